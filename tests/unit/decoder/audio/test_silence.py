"""Which stretches of a recording are decoded: all but long silence."""

from __future__ import annotations

import numpy as np

from decoder.audio.samples import SAMPLE_RATE
from decoder.audio.silence import MARGIN_S, QUIET_LEVEL, SKIPPED_SILENCE_S, LoudSeconds


def recording(*parts: tuple[str, float]) -> np.ndarray:
    """("loud" | "quiet", seconds) parts; quiet is noise just under QUIET_LEVEL."""
    rng = np.random.default_rng(7)
    pieces = []
    for kind, seconds in parts:
        level = 0.3 if kind == "loud" else QUIET_LEVEL * 0.9
        pieces.append((rng.uniform(-level, level, int(seconds * SAMPLE_RATE))).astype(np.float32))
    return np.concatenate(pieces)


def clips_of(samples: np.ndarray, block: int = 7_777) -> list[float] | None:
    loudness = LoudSeconds()
    for start in range(0, len(samples), block):
        loudness.add(samples[start : start + block])
    assert loudness.samples == len(samples)
    return loudness.clip_timestamps()


def test_speech_without_long_pauses_is_decoded_as_it_is() -> None:
    pause = SKIPPED_SILENCE_S + 2 * MARGIN_S - 1
    assert clips_of(recording(("loud", 20), ("quiet", pause), ("loud", 20))) is None
    assert clips_of(recording(("quiet", 10), ("loud", 5), ("quiet", 10))) is None


def test_long_silence_is_left_out_but_its_edges() -> None:
    samples = recording(("loud", 20), ("quiet", 100), ("loud", 20), ("quiet", 45))
    assert clips_of(samples) == [0.0, 20.0 + MARGIN_S, 120.0 - MARGIN_S, 140.0 + MARGIN_S]


def test_leading_silence_is_left_out_whole() -> None:
    assert clips_of(recording(("quiet", 60), ("loud", 10.5))) == [60.0 - MARGIN_S, 70.5]


def test_a_silent_recording_has_nothing_to_decode() -> None:
    assert clips_of(recording(("quiet", 3600))) == []
    assert clips_of(recording(("quiet", 5))) is None
