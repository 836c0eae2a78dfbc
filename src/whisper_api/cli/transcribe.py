"""`whisper-api transcribe`: upload audio or video files to a whisper-api server, follow their
tasks and write each transcript to `<output dir>/<file stem>.<format>`.

Progress goes to stderr and stdout carries only the paths written, one a line, so that the
command scripts well. Exit status: 0 when every file was transcribed, 1 when the server refused
a file or a task failed, 2 for a bad command line, an unreachable server or a refused API key,
and 130 when interrupted.

This module reads and checks the command line; whisper_api.cli.batch does the work. Both run on
client machines, so they use only httpx, tqdm and the standard library.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import httpx

from whisper_api.cli.batch import PROG, Options, ServerError, say, transcribe_all

DEFAULT_URL = "http://127.0.0.1:3001"
FORMATS = ("txt", "srt", "vtt", "ass", "lrc", "tsv", "json")
TASKS = ("transcribe", "translate")
# The upload's answer comes after the server has probed the whole file, which takes a while for
# long recordings; connecting should be quick, so a dead host is reported early.
HTTP_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
DESCRIPTION = """\
Upload audio or video files to a whisper-api server, wait for their transcripts and write
each one as OUTPUT_DIR/<file stem>.<format>. Progress goes to stderr; stdout lists the files
written, one a line.

exit status: 0 all transcribed, 1 a file refused or a task failed, 2 a bad command line,
an unreachable server or a refused API key, 130 interrupted."""
EXIT_USAGE = 2


class UsageError(Exception):
    """The command line cannot work: exit 2 before anything is uploaded."""


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
            return transcribe_all(client, options)
    except (UsageError, ServerError) as exc:
        say(f"{PROG}: {exc}")
    except httpx.ConnectError as exc:
        say(f"{PROG}: cannot reach the server at {url}: {exc}")
    except httpx.HTTPError as exc:
        say(f"{PROG}: no usable answer from the server at {url}: {str(exc) or type(exc).__name__}")
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
