"""A batch of files on a whisper-api server, for `whisper-api transcribe`
(whisper_api.cli.transcribe): every file is uploaded first, so that the server queues them
all, then each task is followed on its own line of stderr and its transcript written as it
finishes.

This runs on client machines, so it uses only httpx, tqdm and the standard library.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# tqdm ships no type hints; `unused-ignore` keeps mypy quiet once stubs are installed too.
from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

PROG = "whisper-api transcribe"
POLL_INTERVAL_S = 0.5
STATE_WIDTH = 24

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


class ServerError(Exception):
    """The server cannot be used at all (key refused, not a whisper-api): exit 2."""


class Refused(Exception):
    """The server turned one request down; the message is its `error.message`."""


@dataclass(frozen=True)
class Options:
    files: list[Path]
    api_key: str | None
    formats: list[str]
    language: str | None
    task: str
    output_dir: Path
    timeout_s: float | None


class StatusLine:
    """One file's line on stderr: a live tqdm bar on a terminal; elsewhere (a log, a pipe) a
    plain line at every change of state, since redrawn bars would be unreadable there."""

    def __init__(self, name: str, width: int, position: int, live: bool) -> None:
        self.name = name
        self._label = name.ljust(width)
        self._live = live
        self._last_state = ""
        self._bar = tqdm(
            total=100,
            desc=self._describe("waiting"),
            position=position,
            file=sys.stderr,
            bar_format="{desc} |{bar:20}| {percentage:3.0f}%",
            leave=True,
            disable=not live,
        )

    def show(self, state: str, detail: str = "", fraction: float = 0.0) -> None:
        if self._live:
            text = f"{state} {detail}".strip()
            self._bar.set_description_str(self._describe(text), refresh=False)
            self._bar.n = round(min(max(fraction, 0.0), 1.0) * 100)
            self._bar.refresh()
        elif state != self._last_state:
            say(f"{self.name}: {state}")
        self._last_state = state

    def close(self) -> None:
        self._bar.close()

    def _describe(self, state: str) -> str:
        return f"{self._label}  {state[:STATE_WIDTH]:<{STATE_WIDTH}}"


@dataclass
class Tracked:
    """One file on its way through the server."""

    source: Path
    line: StatusLine
    task_id: str | None = None
    succeeded: bool = False

    def fail(self, message: str, state: str = "failed") -> None:
        self.line.show(state)
        say(f"{PROG}: {self.source}: {message}")


def transcribe_all(client: httpx.Client, options: Options) -> int:
    # Every upload goes first, so that the server queues them all while this waits.
    width = max(len(path.name) for path in options.files)
    live = sys.stderr.isatty()
    tracked = [
        Tracked(path, StatusLine(path.name, width, position, live))
        for position, path in enumerate(options.files)
    ]
    try:
        for item in tracked:
            _submit(client, options, item)
        _watch(client, options, [item for item in tracked if item.task_id is not None])
    except KeyboardInterrupt:
        _report_abandoned(tracked)
        return EXIT_INTERRUPTED
    finally:
        for item in tracked:
            item.line.close()
    return EXIT_OK if all(item.succeeded for item in tracked) else EXIT_FAILED


def _submit(client: httpx.Client, options: Options, item: Tracked) -> None:
    item.line.show("uploading")
    form = {"language": options.language} if options.language else {}
    try:
        with item.source.open("rb") as audio:
            response = _call(
                client,
                "POST",
                f"/api/v1/{options.task}",
                files={"file": (item.source.name, audio)},
                data=form,
            )
    except Refused as exc:
        item.fail(f"refused: {exc}", state="refused")
        return
    except OSError as exc:
        item.fail(f"cannot read it: {exc.strerror}")
        return
    task = _task_of(response)
    item.task_id = str(task["task_id"])
    item.line.show(*_state_of(task))


def _watch(client: httpx.Client, options: Options, running: list[Tracked]) -> None:
    """Poll the tasks until each has ended or the --timeout has passed."""
    deadline = None if options.timeout_s is None else time.monotonic() + options.timeout_s
    while running:
        for item in list(running):
            if _poll(client, options, item):
                running.remove(item)
        if running and deadline is not None and time.monotonic() >= deadline:
            for item in running:
                message = f"gave up after {options.timeout_s:g} s; the server keeps task {item.task_id}"
                item.fail(message, state="timed out")
            return
        if running:
            time.sleep(POLL_INTERVAL_S)


def _poll(client: httpx.Client, options: Options, item: Tracked) -> bool:
    """Update the file's line from its task; True once the task has ended."""
    try:
        task = _task_of(_call(client, "GET", f"/api/v1/tasks/{item.task_id}"))
    except Refused as exc:
        # The task is gone: deleted by someone else, or expired while this waited.
        item.fail(str(exc))
        return True
    item.line.show(*_state_of(task))
    if task.get("status") == "failed":
        item.fail(f"the task failed: {task.get('error') or 'no reason given'}")
        return True
    if task.get("status") == "finished":
        item.succeeded = _save(client, options, item)
        return True
    return False


def _state_of(task: dict[str, Any]) -> tuple[str, str, float]:
    """The task's state, its detail and its progress (0-1), for a StatusLine."""
    status = str(task.get("status"))
    if status == "pending":
        ahead = task.get("position_in_queue")
        return ("queued, next" if not ahead else f"queued, {ahead} ahead"), "", 0.0
    if status == "processing":
        eta = task.get("eta_s")
        detail = f"~{eta:.0f} s left" if isinstance(eta, (int, float)) else ""
        return "decoding", detail, float(task.get("progress") or 0.0)
    return status, "", 1.0 if status == "finished" else 0.0


def _save(client: httpx.Client, options: Options, item: Tracked) -> bool:
    """Write the transcript in every format asked for; False (and a message) if one fails."""
    for fmt in options.formats:
        path = options.output_dir / f"{item.source.stem}.{fmt}"
        try:
            response = _call(client, "GET", f"/api/v1/tasks/{item.task_id}/result", params={"format": fmt})
            path.write_bytes(response.content)
        except Refused as exc:
            item.fail(f"no {fmt} result: {exc}")
            return False
        except OSError as exc:
            item.fail(f"cannot write {path}: {exc.strerror}")
            return False
        # Through tqdm, so that live bars on the same terminal are redrawn below the path.
        tqdm.write(str(path), file=sys.stdout)
    return True


def _call(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send a request; refusals that concern every file become ServerError, others Refused."""
    response = client.request(method, url, **kwargs)
    if response.status_code in (401, 403):
        advice = "check --api-key" if client.headers.get("Authorization") else "pass one with --api-key"
        raise ServerError(f"the server refused the request: {_error_message(response)}; {advice}")
    # whisper-api answers every route it has, so these mean that --url points elsewhere.
    if response.status_code in (404, 405) and method == "POST":
        raise ServerError(
            f"{client.base_url} does not look like a whisper-api server ({response.status_code})"
        )
    if response.is_error:
        raise Refused(_error_message(response))
    return response


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if body.get("detail"):
            return str(body["detail"])
    return f"{response.status_code} {response.reason_phrase}"


def _task_of(response: httpx.Response) -> dict[str, Any]:
    try:
        task = response.json()
    except ValueError:
        task = None
    if not isinstance(task, dict) or "task_id" not in task:
        raise ServerError(f"unexpected answer from {response.request.url}; is it a whisper-api server?")
    return task


def _report_abandoned(tracked: list[Tracked]) -> None:
    say(f"{PROG}: interrupted")
    for item in tracked:
        if item.task_id is not None and not item.succeeded:
            say(f"{PROG}: {item.source}: task {item.task_id} keeps running on the server")


def say(message: str) -> None:
    # tqdm.write keeps live bars intact; without bars it is a plain print.
    tqdm.write(message, file=sys.stderr)
