"""`whisper-api transcribe`: upload audio or video files to a whisper-api server, follow their
tasks and write each transcript to `<output dir>/<file stem>.<format>`.

Progress goes to stderr and stdout carries only the paths written, one a line, so that the
command scripts well. Exit status: 0 when every file was transcribed, 1 when the server refused
a file or a task failed, 2 for a bad command line, an unreachable server or a refused API key,
and 130 when interrupted.

This runs on client machines, so it uses only httpx, tqdm and the standard library.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# tqdm ships no type hints; `unused-ignore` keeps mypy quiet once stubs are installed too.
from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

PROG = "whisper-api transcribe"
DEFAULT_URL = "http://127.0.0.1:3001"
FORMATS = ("txt", "srt", "vtt", "tsv", "json")
TASKS = ("transcribe", "translate")
POLL_INTERVAL_S = 0.5
# The upload's answer comes after the server has probed the whole file, which takes a while for
# long recordings; connecting should be quick, so a dead host is reported early.
HTTP_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
STATE_WIDTH = 24
DESCRIPTION = """\
Upload audio or video files to a whisper-api server, wait for their transcripts and write
each one as OUTPUT_DIR/<file stem>.<format>. Progress goes to stderr; stdout lists the files
written, one a line.

exit status: 0 all transcribed, 1 a file refused or a task failed, 2 a bad command line,
an unreachable server or a refused API key, 130 interrupted."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """The command line cannot work: exit 2 before anything is uploaded."""


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


def add_transcribe_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `transcribe` on the `whisper-api` subcommands; `run_transcribe` runs it."""
    parser = commands.add_parser(
        "transcribe",
        help="transcribe files with a running whisper-api server",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="audio or video files")
    parser.add_argument("--url", help=f"the server (default: $WHISPER_API_URL or {DEFAULT_URL})")
    parser.add_argument("--api-key", help="sent as a Bearer token (default: $WHISPER_API_KEY)")
    parser.add_argument(
        "-f",
        "--format",
        dest="formats",
        type=_format_list,
        action="extend",
        metavar="FMT[,FMT...]",
        help=f"output formats, comma-separated or repeated: {', '.join(FORMATS)} (default: txt)",
    )
    parser.add_argument("--language", help="the spoken language, e.g. en or german (default: detected)")
    parser.add_argument("--task", choices=TASKS, default="transcribe", help="translate gives English")
    parser.add_argument(
        "-o", "--output-dir", type=Path, default=Path("."), help="where to write (default: .)"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        metavar="S",
        help="stop waiting after S seconds; unfinished tasks count as failed (default: no limit)",
    )


def run_transcribe(args: argparse.Namespace) -> int:
    """Run `whisper-api transcribe` as parsed by `add_transcribe_command`; returns the exit status."""
    url = args.url or os.environ.get("WHISPER_API_URL") or DEFAULT_URL
    try:
        options = _options(args, url)
        with httpx.Client(base_url=url, headers=_headers(options), timeout=HTTP_TIMEOUT) as client:
            return _transcribe_all(client, options)
    except (UsageError, ServerError) as exc:
        _say(f"{PROG}: {exc}")
    except httpx.ConnectError as exc:
        _say(f"{PROG}: cannot reach the server at {url}: {exc}")
    except httpx.HTTPError as exc:
        _say(f"{PROG}: no usable answer from the server at {url}: {str(exc) or type(exc).__name__}")
    return EXIT_USAGE


def _format_list(text: str) -> list[str]:
    formats = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in formats if name not in FORMATS]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(f"unknown format {text!r}; choose from {', '.join(FORMATS)}")
    return formats


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return seconds


def _options(args: argparse.Namespace, url: str) -> Options:
    """Check the command line completely before uploading, so that a typo in the last file
    name does not leave the first files' tasks running."""
    if not _is_http_url(url):
        raise UsageError(f"--url {url!r} is not an http(s) URL")
    files: list[Path] = args.files
    for path in files:
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
    _refuse_shared_stems(files)
    output_dir: Path = args.output_dir
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output directory {output_dir}: {exc.strerror}") from exc
    return Options(
        files=files,
        api_key=args.api_key or os.environ.get("WHISPER_API_KEY") or None,
        # `extend` appends to a default list, so the default is applied here rather than there.
        formats=list(dict.fromkeys(args.formats or ["txt"])),
        language=args.language,
        task=args.task,
        output_dir=output_dir,
        timeout_s=args.timeout,
    )


def _is_http_url(url: str) -> bool:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)


def _refuse_shared_stems(files: list[Path]) -> None:
    """Transcripts are named after the file stem; two files with one stem would overwrite."""
    seen: dict[str, Path] = {}
    for path in files:
        earlier = seen.setdefault(path.stem, path)
        if earlier is not path:
            raise UsageError(f"{earlier} and {path} would both be written as {path.stem}.*")


def _headers(options: Options) -> dict[str, str]:
    return {"Authorization": f"Bearer {options.api_key}"} if options.api_key else {}


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
            _say(f"{self.name}: {state}")
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
        _say(f"{PROG}: {self.source}: {message}")


def _transcribe_all(client: httpx.Client, options: Options) -> int:
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
    _say(f"{PROG}: interrupted")
    for item in tracked:
        if item.task_id is not None and not item.succeeded:
            _say(f"{PROG}: {item.source}: task {item.task_id} keeps running on the server")


def _say(message: str) -> None:
    # tqdm.write keeps live bars intact; without bars it is a plain print.
    tqdm.write(message, file=sys.stderr)
