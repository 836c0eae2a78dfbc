"""Which language a recording is in, heard on a few windows of speech spread over all of it.

Whisper decides from the first 30 s, so a file that opens with silence, music or a tone is
taken for whatever that opening sounds like. Here the file is streamed once: each 30 s window's
speech is found with the Silero voice-activity model (decoder.audio.voice_activity; no download),
and up to WINDOWS windows that hold at least MIN_SPEECH_S of speech, evenly spread over the
file, are kept; memory is bounded by 2 * WINDOWS windows, whatever the length. The model
hears each window's speech alone, and the languages' probabilities are averaged over the
windows. A file without speech that the model could hear is judged on its first window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from decoder.audio.ffmpeg import AudioFile, pcm_stream
from decoder.audio.samples import SAMPLE_RATE, Samples
from decoder.audio.voice_activity import only_spans, speech_spans

WINDOW_S = 30
WINDOWS = 4
MIN_SPEECH_S = 2.0
# The candidates a detection answers with.
TOP_LANGUAGES = 5

# The languages' probabilities for the first 30 s of some samples (an engine's model).
LanguageModel = Callable[[Samples], dict[str, float]]
Item = TypeVar("Item")


@dataclass(frozen=True)
class Detection:
    # The most probable languages, most probable first, with their mean probabilities.
    candidates: tuple[tuple[str, float], ...]
    windows: int

    @property
    def language(self) -> str:
        return self.candidates[0][0]

    @property
    def probability(self) -> float:
        return self.candidates[0][1]


class SpreadSample(Generic[Item]):
    """Keeps at most 2 * size of the items offered one by one, evenly spread over all of them:
    every stride-th; once full, every other kept one goes and the stride doubles."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._stride = 1
        self._offered = 0
        self._kept: list[Item] = []

    def offer(self, item: Item) -> None:
        if self._offered % self._stride == 0:
            self._kept.append(item)
            if len(self._kept) > 2 * self._size:
                self._kept = self._kept[::2]
                self._stride *= 2
        self._offered += 1

    def spread(self) -> list[Item]:
        """`size` of the kept items (all where fewer), evenly spread, first and last included."""
        kept, size = self._kept, self._size
        if len(kept) <= size:
            return list(kept)
        if size == 1:
            return [kept[0]]
        return [kept[round(i * (len(kept) - 1) / (size - 1))] for i in range(size)]


def speech_of(window: Samples) -> Samples:
    """The window's speech alone, its pauses and silence left out."""
    return only_spans(window, speech_spans([window]))


def windows_of(blocks: Iterable[Samples]) -> Iterator[Samples]:
    """The stream's samples cut into WINDOW_S windows (the last one shorter)."""
    size = WINDOW_S * SAMPLE_RATE
    pending: list[Samples] = []
    held = 0
    for block in blocks:
        pending.append(block)
        held += len(block)
        while held >= size:
            joined = np.concatenate(pending)
            yield joined[:size]
            pending, held = [joined[size:]], held - size
    if held:
        yield np.concatenate(pending)


def detect(windows: Iterable[Samples], model: LanguageModel) -> Detection:
    """The language of the windows' speech (see the module's docstring)."""
    first: Samples | None = None
    sample: SpreadSample[Samples] = SpreadSample(WINDOWS)
    for window in windows:
        if first is None:
            first = window
        speech = speech_of(window)
        if len(speech) >= MIN_SPEECH_S * SAMPLE_RATE:
            sample.offer(speech)
    heard = sample.spread() or ([first] if first is not None else [])
    if not heard:
        raise ValueError("the recording holds no audio")
    totals: dict[str, float] = {}
    for speech in heard:
        for language, probability in model(speech).items():
            totals[language] = totals.get(language, 0.0) + probability
    ranked = sorted(totals.items(), key=lambda pair: pair[1], reverse=True)[:TOP_LANGUAGES]
    return Detection(tuple((language, total / len(heard)) for language, total in ranked), len(heard))


def detect_in_file(file: AudioFile, model: LanguageModel) -> Detection:
    """detect() over the whole file, streamed: one ffmpeg run, a few windows in memory."""
    with pcm_stream(file, timed=True) as blocks:
        return detect(windows_of(blocks), model)
