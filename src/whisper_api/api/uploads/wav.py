"""Raw PCM uploads (whisper-asr-webservice's encode=false: 16 kHz mono signed 16-bit
little-endian, no header) are stored as WAV: a header goes in front of the bytes as they
arrive, and its sizes are filled in once the upload is complete."""

from __future__ import annotations

import struct
from pathlib import Path

RAW_PCM_RATE = 16000


def wav_header(data_bytes: int) -> bytes:
    """A canonical 44-byte WAV header for `data_bytes` of RAW_PCM_RATE mono s16le samples (its
    32-bit sizes saturate, which ffmpeg reads as "to the end of the file")."""
    data_bytes = min(data_bytes, 0xFFFFFFFF - 36)
    channels, sample_bytes = 1, 2
    block = channels * sample_bytes
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        channels,
        RAW_PCM_RATE,
        RAW_PCM_RATE * block,
        block,
        8 * sample_bytes,
        b"data",
        data_bytes,
    )


def complete_wav_header(path: Path, data_bytes: int) -> None:
    with open(path, "r+b") as target:
        target.write(wav_header(data_bytes))
