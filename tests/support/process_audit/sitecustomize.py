"""Loaded at start by every Python process of a server whose PYTHONPATH holds this folder (a
test's): where PROCESS_AUDIT_LOG names a file, each process writes a `loaded` line to it, and a
`started` line for every program or process it starts through Python (subprocess, os.fork,
os.posix_spawn, os.exec*, os.system), as the interpreter's audit events report them."""

from __future__ import annotations

import os
import sys

_LOG = os.environ.get("PROCESS_AUDIT_LOG")
_STARTS = {"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.exec", "os.spawn", "os.system"}


def _write(line: str) -> None:
    assert _LOG is not None
    with open(_LOG, "a") as log:
        log.write(f"{os.getpid()} {line}\n")


def _on_event(event: str, arguments: tuple[object, ...]) -> None:
    if event in _STARTS:
        _write(f"started {event} {arguments[:2]!r}")


if _LOG:
    _write(f"loaded {sys.argv!r}")
    sys.addaudithook(_on_event)
