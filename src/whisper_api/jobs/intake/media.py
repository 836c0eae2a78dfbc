"""Checks an upload with ffprobe and ffmpeg before it is queued, so that bad files fail at once with 400.

The check has three steps, each as quick for an hour of audio as for a minute:

1. ffprobe reads the container: it fails on files that are not media at all, and on MP4/MOV files
   cut off before their index (the "moov atom", which most encoders write last).
2. ffmpeg decodes the first 40 s of the first audio track, stopping at the first error: this
   catches a valid header followed by damaged data, which ffprobe alone accepts. It runs at the
   same time as step 1, since starting an ffmpeg costs about 0.14 s here, as much as decoding
   20 s of Opus.
3. Where the audio is longer than that, ffmpeg decodes the last few seconds before the end the
   header declares, again stopping at the first error (and while step 2 may still run): it finds
   no audio there, or a short last packet, when the data stops short of that end, as in an MP3
   (with a duration header), FLAC, WebM or MP4 file cut off mid-way. A shorter file was decoded
   to its end in step 2, and its decoded length tells the same.

Every run is held to the upload (decoder.wire.containers): only accepted container formats, only the
file itself, never a playlist's segments or a URL, each run within PROBE_TIMEOUT_S.

What such a check cannot tell from a good file is accepted, since whisper decodes whatever is
there: a WAV, Ogg, or MP3 file without a duration header cut off mid-way (a WAV header written
before its length was known looks just the same), damage in the middle of a long file, and random
bytes after a WAV header (they decode as noise).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from decoder.wire.containers import NOT_ON_WHITELIST, demuxer_of, input_arguments
from whisper_api.jobs.errors import NotAudio

log = logging.getLogger(__name__)

# Long enough to hold several packets of any codec, short enough to decode in milliseconds.
CHECK_SECONDS = 5.0
# The first step decodes this much: all of a short clip, so that it needs no second ffmpeg run.
HEAD_SECONDS = 40.0
# Decoded audio is only counted, never used: a low rate keeps the pipe small.
_CHECK_SAMPLE_RATE = 8000
# ffmpeg's words for a packet shorter than the header promised: the data ends too early.
_SHORT_PACKET_MARKERS = (b"corrupt input packet", b"partial file")
_LOG_PREFIX = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")
# Each step reads a bounded part of the file; a run that takes longer than this is stuck.
PROBE_TIMEOUT_S = 30.0
REFUSED_FORMAT = (
    "the file is not an audio or video file in a format this server accepts (playlists such as "
    "HLS/m3u8, concat scripts and other formats that refer to other files or URLs are refused)"
)


@dataclass(frozen=True)
class ProbedAudio:
    # Seconds of audio (None where unknown).
    duration_s: float | None
    # The container's demuxer (decoder.wire.containers), pinned when the decoder decodes it.
    demuxer: str


def probe_audio(path: Path) -> ProbedAudio:
    """The duration and format of a readable file with an audio track.

    Blocking (it runs ffprobe and ffmpeg): call it from a worker thread.
    """
    if path.stat().st_size == 0:
        raise NotAudio("the file is empty")
    with _started(_decode_command(path, None, 0.0, HEAD_SECONDS)) as head:
        assert head is not None
        info, estimated = _probe(path)
        return _checked(path, info, estimated, head)


def _checked(path: Path, info: dict[str, Any], estimated: bool, head: subprocess.Popen[bytes]) -> ProbedAudio:
    demuxer = demuxer_of(str(info.get("format", {}).get("format_name", "")))
    if demuxer is None:
        raise NotAudio(REFUSED_FORMAT)
    streams: list[dict[str, Any]] = info.get("streams", [])
    audio = next((stream for stream in streams if stream.get("codec_type") == "audio"), None)
    if audio is None:
        raise NotAudio("the file has no audio track")
    file_duration = _seconds(info.get("format", {}).get("duration"))
    duration = _seconds(audio.get("duration"))
    if duration is None and len(streams) == 1:
        # Matroska and WebM keep the duration only for the whole file; with a single stream it is
        # the audio's own. With other streams it may be a longer video's, so it is not used.
        duration = file_duration
    # Where ffprobe has to estimate the duration from the bit rate, the header does not know how
    # long the audio is (an MP3 without a duration header, a WAV written to a pipe or cut off):
    # the estimate may lie past the real end, so only damage counts there, not an early end.
    length_known = not estimated
    end_command = None
    if duration is not None and duration > HEAD_SECONDS:
        end_command = _decode_command(path, demuxer, duration - CHECK_SECONDS, CHECK_SECONDS)
    # The end's run starts at once, while the first step may still be decoding.
    with _started(end_command) as end:
        head_s = _decoded_s(head, path, length_known)
        if not head_s:
            raise NotAudio("the audio track holds no audio that can be decoded")
        if end is not None:
            reaches_end = bool(_decoded_s(end, path, length_known))
        else:
            # The first step decoded all of it: its length shows where the data ends.
            reaches_end = duration is None or head_s > duration - CHECK_SECONDS
    if not reaches_end and length_known:
        raise NotAudio(
            f"the file is cut off: it declares {duration:.1f} s of audio, but its data ends "
            f"more than {CHECK_SECONDS:g} s before that"
        )
    return ProbedAudio(duration if duration is not None else file_duration, demuxer)


def _probe(path: Path) -> tuple[dict[str, Any], bool]:
    """ffprobe's description of the file, and whether its duration is only an estimate.

    ffmpeg-python's probe drops ffprobe's warnings, and the estimate shows only in one of them.
    """
    command = [
        "ffprobe",
        "-v",
        "warning",
        *input_arguments(None),
        "-of",
        "json",
        "-show_format",
        "-show_streams",
        f"file:{path}",
    ]
    result = _run(command)
    if result.returncode != 0:
        if NOT_ON_WHITELIST in result.stderr:
            raise NotAudio(REFUSED_FORMAT)
        if b"moov atom not found" in result.stderr:
            raise NotAudio(
                "the file is incomplete: its MP4/MOV index (moov atom) is missing, as when a "
                "recording or upload is cut off"
            )
        raise NotAudio(
            "the file is not an audio or video file that ffmpeg can read "
            "(an unknown or unsupported format, or damaged data)"
        )
    info: dict[str, Any] = json.loads(result.stdout)
    return info, b"Estimating duration from bitrate" in result.stderr


def _decode_command(path: Path, demuxer: str | None, start: float, seconds: float) -> list[str]:
    """ffmpeg decoding up to `seconds` of the first audio track from `start` on, stopping at the
    first decoding error (ffmpeg alone would skip damaged packets)."""
    # ffmpeg-python writes the command line; the run itself needs a time limit it cannot set.
    source = ffmpeg.input(f"file:{path}", ss=start) if start > 0 else ffmpeg.input(f"file:{path}")
    output = source["a:0"].output(
        "pipe:", format="s16le", acodec="pcm_s16le", ac=1, ar=_CHECK_SAMPLE_RATE, t=seconds
    )
    arguments = output.global_args("-nostdin", "-v", "error", "-xerror").get_args()
    # The input options go before the input's `-ss`/`-i`.
    return ["ffmpeg", *input_arguments(demuxer), *arguments]


@contextlib.contextmanager
def _started(command: list[str] | None) -> Iterator[subprocess.Popen[bytes] | None]:
    """The command running (None: nothing to run); it is ended on leaving, whether or not its
    outcome was read."""
    if command is None:
        yield None
        return
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield process
    finally:
        process.kill()
        process.communicate()


def _decoded_s(process: subprocess.Popen[bytes], path: Path, length_known: bool) -> float:
    """The seconds of audio the decoding run decoded.

    Raises NotAudio at the first decoding error, and at a short last packet where the header
    promised more data.
    """
    try:
        stdout, stderr = process.communicate(timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise _too_slow() from exc
    if process.returncode != 0 and not any(marker in stderr for marker in _SHORT_PACKET_MARKERS):
        # ffmpeg's words are for the operator: they name its internals, not what a client can do.
        log.info("ffmpeg refused upload %s: %s", path.name, _first_error(stderr, path))
        raise NotAudio("the audio is damaged and cannot be decoded: its data is corrupt or breaks off")
    if process.returncode != 0 and length_known:
        raise NotAudio("the file is cut off: its data ends before the length its header declares")
    # A short last packet where the length was only estimated: whatever decoded counts.
    return len(stdout) / 2 / _CHECK_SAMPLE_RATE


def _run(command: list[str]) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(command, capture_output=True, check=False, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise _too_slow() from exc


def _too_slow() -> NotAudio:
    return NotAudio(f"checking the file took longer than {PROBE_TIMEOUT_S:g} s: it cannot be read as it is")


def _first_error(stderr: bytes, path: Path) -> str:
    """ffmpeg's first error line, without its log prefix or the server-side path."""
    for line in stderr.decode("utf-8", "replace").splitlines():
        text = _LOG_PREFIX.sub("", line.strip()).replace(f"file:{path}: ", "")
        if text and not text.startswith("Last message repeated"):
            return text
    return "ffmpeg gave no reason"


def _seconds(value: object) -> float | None:
    try:
        return float(value) if isinstance(value, (str, int, float)) else None
    except ValueError:  # ffprobe writes "N/A" where it does not know
        return None
