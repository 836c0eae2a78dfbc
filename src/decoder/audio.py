"""Decoding an upload to the 16 kHz mono samples Whisper hears, with ffmpeg held to the upload.

Both engines get their audio from here, as a float32 array, rather than through their own
loaders (openai-whisper's `load_audio`, faster-whisper's PyAV), which detect any format ffmpeg
knows, playlists included, and run without a time limit. ffmpeg runs in the decoder's process
group, so the front end ends it with the decoder.
"""

from __future__ import annotations

import logging
import subprocess

import numpy as np
import numpy.typing as npt

from decoder.containers import input_arguments

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
# Mono float32 samples in [-1, 1] at SAMPLE_RATE.
Samples = npt.NDArray[np.float32]


class AudioError(Exception):
    """The upload could not be decoded; the message is short and names no server path."""


def load_audio(path: str, demuxer: str | None, timeout_s: float) -> Samples:
    """The first audio track of the file at `path`, as 16 kHz mono samples in [-1, 1].

    `demuxer` is the format the upload check found (None: any accepted format).
    """
    command = [
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
    try:
        result = subprocess.run(command, capture_output=True, check=False, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise AudioError(f"decoding the audio took longer than {timeout_s:g} s") from exc
    if result.returncode != 0:
        # The full text may hold paths and ffmpeg's build details: it goes to the log only.
        log.error("ffmpeg could not decode %s: %s", path, result.stderr.decode("utf-8", "replace")[-4000:])
        raise AudioError("the audio could not be decoded")
    return np.frombuffer(result.stdout, np.int16).astype(np.float32) / 32768.0
