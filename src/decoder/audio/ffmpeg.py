"""Decoding an upload to the 16 kHz mono samples Whisper hears, with ffmpeg held to the upload.

Both engines get their audio from here rather than through their own loaders (openai-whisper's
`load_audio`, faster-whisper's PyAV), which detect any format ffmpeg knows, playlists included,
and run without a time limit. ffmpeg runs in the decoder's process group, so the front end ends
it with the decoder.

    load_audio(path, ...)      the whole track (or its first seconds) in one array
    pcm_stream(file, ...)      the track as a stream of blocks, for recordings of any length
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from decoder.errors import AudioError
from decoder.wire.containers import input_arguments

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
# Mono float32 samples in [-1, 1] at SAMPLE_RATE.
Samples = npt.NDArray[np.float32]
# What a stream hands on at a time: 10 s of audio, 320 KB of 16-bit samples.
BLOCK_SAMPLES = 10 * SAMPLE_RATE
# The end of ffmpeg's error text that is kept for the log.
_STDERR_KEPT = 4000


@dataclass(frozen=True)
class AudioFile:
    """An upload to decode: its path, the format the upload check found (None: any accepted
    format), how long one ffmpeg run through all of it may take, and how long its audio may be
    (None: any length)."""

    path: str
    demuxer: str | None
    timeout_s: float
    max_duration_s: float | None = None


def _command(path: str, demuxer: str | None, limit_s: float | None) -> list[str]:
    limit = ["-t", f"{limit_s:g}"] if limit_s is not None else []
    return [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        *input_arguments(demuxer),
        "-i",
        f"file:{path}",
        "-map",
        "0:a:0",
        *limit,
        "-f",
        "s16le",
        "-acodec",
        "pcm_s16le",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-",
    ]


def _as_samples(pcm: bytes) -> Samples:
    return np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0


def _undecodable(path: str, stderr: bytes) -> AudioError:
    # The full text may hold paths and ffmpeg's build details: it goes to the log only.
    log.error("ffmpeg could not decode %s: %s", path, stderr.decode("utf-8", "replace")[-_STDERR_KEPT:])
    return AudioError("the audio could not be decoded")


def load_audio(path: str, demuxer: str | None, timeout_s: float, limit_s: float | None = None) -> Samples:
    """The first audio track of the file at `path` (only its first `limit_s` seconds, where given),
    as 16 kHz mono samples in [-1, 1]."""
    try:
        result = subprocess.run(
            _command(path, demuxer, limit_s), capture_output=True, check=False, timeout=timeout_s
        )
    except subprocess.TimeoutExpired as exc:
        raise AudioError(f"decoding the audio took longer than {timeout_s:g} s") from exc
    if result.returncode != 0:
        raise _undecodable(path, result.stderr)
    return _as_samples(result.stdout)


@contextlib.contextmanager
def pcm_stream(file: AudioFile, *, timed: bool) -> Iterator[Iterator[Samples]]:
    """The file's first audio track as blocks of at most BLOCK_SAMPLES samples, read as they are used.

    Only the block in hand is in memory, whatever the file's length. `timed`: the whole run must
    end within the file's timeout (a read that keeps pace with ffmpeg); untimed, ffmpeg waits for
    the reader, as long as a decode takes. Leaving the block ends ffmpeg.
    """
    process = subprocess.Popen(
        _command(file.path, file.demuxer, None), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    # ffmpeg would stop once its error pipe filled up, so a thread keeps reading it.
    stderr: deque[bytes] = deque(maxlen=64)
    drain = threading.Thread(target=_drain, args=(process.stderr, stderr), daemon=True)
    drain.start()
    timer = threading.Timer(file.timeout_s, process.kill) if timed else None
    if timer is not None:
        timer.start()
    try:
        yield _blocks(process, file, stderr, drain, timer)
    finally:
        if timer is not None:
            timer.cancel()
        process.kill()
        process.wait()
        process.stdout.close()
        drain.join()
        process.stderr.close()


def _drain(pipe: object, kept: deque[bytes]) -> None:
    for line in pipe:  # type: ignore[attr-defined]
        kept.append(line)


def _blocks(
    process: subprocess.Popen[bytes],
    file: AudioFile,
    stderr: deque[bytes],
    drain: threading.Thread,
    timer: threading.Timer | None,
) -> Iterator[Samples]:
    assert process.stdout is not None
    limit = None if file.max_duration_s is None else file.max_duration_s * SAMPLE_RATE
    read = 0
    while block := process.stdout.read(2 * BLOCK_SAMPLES):
        read += len(block) // 2
        if limit is not None and read > limit:
            raise AudioError(
                f"the audio is longer than the limit of {file.max_duration_s:g} s (MAX_AUDIO_DURATION_S)"
            )
        # An odd byte count happens only at a cut: the half sample is dropped.
        yield _as_samples(block[: len(block) // 2 * 2])
    returncode = process.wait()
    drain.join()
    if timer is not None and not timer.is_alive() and returncode != 0:
        raise AudioError(f"decoding the audio took longer than {file.timeout_s:g} s")
    if returncode != 0:
        raise _undecodable(file.path, b"".join(stderr))
