"""A live session's ears: G.711 against ffmpeg's decoders, resampling in chunks, and the Silero
model's speech probabilities on real speech and silence."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from decoder.audio.voice_activity import FRAME_SAMPLES
from tests.support.live_speech import pcm_of
from tests.support.speech import PARAGRAPHS, speak
from whisper_api.live.formats import OPENAI_FORMATS, SAMPLE_RATE
from whisper_api.live.listening import Ears, Resampler, decoded


@pytest.mark.parametrize(("kind", "ffmpeg_format"), [("audio/pcmu", "mulaw"), ("audio/pcma", "alaw")])
def test_g711_bytes_expand_as_ffmpeg_expands_them(kind: str, ffmpeg_format: str) -> None:
    every_code = bytes(range(256))
    expected = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            ffmpeg_format,
            "-ar",
            "8000",
            "-ac",
            "1",
            "-i",
            "-",
            "-f",
            "s16le",
            "-",
        ],
        input=every_code,
        capture_output=True,
        check=True,
    ).stdout
    ours = np.round(decoded(every_code, OPENAI_FORMATS[kind]) * 32768).astype(np.int16)
    assert ours.tolist() == np.frombuffer(expected, "<i2").tolist()


def test_resampling_in_chunks_is_resampling_at_once() -> None:
    seconds = np.arange(24000) / 24000
    tone = (0.5 * np.sin(2 * np.pi * 440 * seconds)).astype(np.float32)
    whole = Resampler(24000)(tone)
    chunked = Resampler(24000)
    pieces = np.concatenate([chunked(tone[start : start + 777]) for start in range(0, len(tone), 777)])
    assert abs(len(whole) - SAMPLE_RATE) <= 1
    assert np.allclose(pieces, whole[: len(pieces)], atol=1e-5)
    # Still a 440 Hz tone.
    spectrum = np.abs(np.fft.rfft(whole[:SAMPLE_RATE]))
    assert abs(int(np.argmax(spectrum)) - 440) <= 1


def test_speech_is_heard_and_silence_is_not(tmp_path: Path) -> None:
    speech = pcm_of(speak(PARAGRAPHS[0][:120], tmp_path / "speech.wav"))
    silence = bytes(len(speech))
    ears = Ears(OPENAI_FORMATS["audio/pcm"])
    heard = ears.hear(silence[:12345]) + ears.hear(silence[12345:] + speech)
    assert all(len(frame) == FRAME_SAMPLES * 4 for frame, _ in heard)
    half = len(heard) // 2
    quiet = [p for _, p in heard[:half]]
    spoken = [p for _, p in heard[half:]]
    assert max(quiet) < 0.2
    assert sum(p > 0.5 for p in spoken) > 0.6 * len(spoken)
