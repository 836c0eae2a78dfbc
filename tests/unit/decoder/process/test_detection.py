from __future__ import annotations

import numpy as np
import pytest

from decoder.audio.samples import SAMPLE_RATE, Samples
from decoder.process.detection import WINDOW_S, WINDOWS, SpreadSample, detect, windows_of


@pytest.mark.parametrize("offered", [1, 3, WINDOWS, 2 * WINDOWS + 1, 100, 1000])
def test_the_kept_items_are_few_and_spread_over_all_offered(offered: int) -> None:
    sample: SpreadSample[int] = SpreadSample(WINDOWS)
    for item in range(offered):
        sample.offer(item)
        assert len(sample._kept) <= 2 * WINDOWS
    spread = sample.spread()
    assert spread == sorted(set(spread)) and len(spread) == min(offered, WINDOWS)
    assert spread[0] == 0
    # The last one chosen lies in the last quarter of what was offered.
    assert spread[-1] >= offered * 3 // 4 - 1


def test_a_stream_is_cut_into_windows_whatever_its_blocks() -> None:
    samples = np.arange(int(2.5 * WINDOW_S * SAMPLE_RATE), dtype=np.float32)
    blocks = np.array_split(samples, 7)
    windows = list(windows_of(blocks))
    assert [len(window) for window in windows] == [WINDOW_S * SAMPLE_RATE] * 2 + [WINDOW_S * SAMPLE_RATE // 2]
    assert np.array_equal(np.concatenate(windows), samples)


def test_without_speech_the_first_window_is_heard() -> None:
    heard: list[int] = []

    def model(audio: Samples) -> dict[str, float]:
        heard.append(len(audio))
        return {"en": 0.25, "de": 0.75}

    silence = [np.zeros(WINDOW_S * SAMPLE_RATE, np.float32)] * 3
    detection = detect(silence, model)
    assert heard == [WINDOW_S * SAMPLE_RATE]
    assert detection.candidates == (("de", 0.75), ("en", 0.25)) and detection.windows == 1
    with pytest.raises(ValueError):
        detect([], model)
