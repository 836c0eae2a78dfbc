"""The upload checker's process: one check at a time, for as long as the front end holds the pipe."""

from __future__ import annotations

import contextlib
import os
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

import av.logging

from decoder.checking.probe import check_upload
from decoder.errors import UploadRefusal
from decoder.wire.helper_pipes import CheckFailed, CheckUpload, FromChecker, UploadRefused

# What `ps` and /proc/PID/comm show of the process (at most 15 characters).
PROCESS_NAME = "upload-check"


def serve(conn: Connection) -> None:
    """Answer CheckUpload messages until the front end closes the pipe (or exits)."""
    # A group of its own keeps Ctrl-C in a terminal away: the front end ends it by closing the pipe.
    os.setpgid(0, 0)
    with contextlib.suppress(OSError):
        Path("/proc/self/comm").write_text(PROCESS_NAME)
    # The check reads the libraries' warnings and errors (decoder.checking.probe), each time
    # they are said: the same warning about the next file is news.
    av.logging.set_level(av.logging.WARNING)
    av.logging.set_skip_repeated(False)
    while True:
        try:
            request: CheckUpload = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(_answer(request))


def _answer(request: CheckUpload) -> FromChecker:
    try:
        return check_upload(request.path)
    except UploadRefusal as refusal:
        return UploadRefused(str(refusal), refusal.detail)
    except Exception:
        return CheckFailed(traceback.format_exc())
