"""Where each language is spoken: real espeak-ng speech and the real Silero model, heard by a
language model that knows each 32 ms frame's true language (an oracle), so that what is tested is
the cutting, the chunks, the hearing apart and the runs, not Whisper's ear."""

from __future__ import annotations

import tracemalloc
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest

from decoder.audio.ffmpeg import load_audio
from decoder.audio.samples import SAMPLE_RATE, Samples
from decoder.audio.voice_activity import FRAME_SAMPLES
from decoder.process.language_map import (
    CHUNK_S,
    MIN_HEARD_S,
    MIN_RUN_S,
    LanguageMap,
    LanguageRun,
    _Run,
    _smoothed,
    map_blocks,
)
from decoder.wire.transcript import LanguageShare
from tests.support.speech import GERMAN, PARAGRAPHS, SPANISH, speak

PAUSE = np.zeros(SAMPLE_RATE // 2, np.float32)


class Oracle:
    """Hears a language as the share of the frames it was given that came from each source; keeps
    what it was asked."""

    def __init__(self, stream: Samples, languages: list[str | None]) -> None:
        self.frames: dict[bytes, str] = {}
        for index, language in enumerate(languages):
            if language is not None:
                self.frames[stream[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES].tobytes()] = language
        self.heard: list[int] = []

    def __call__(self, samples: Samples) -> dict[str, float]:
        self.heard.append(len(samples))
        whole = len(samples) // FRAME_SAMPLES * FRAME_SAMPLES
        votes = Counter(
            self.frames.get(frame.tobytes(), "xx") for frame in samples[:whole].reshape(-1, FRAME_SAMPLES)
        )
        return {language: count / sum(votes.values()) for language, count in votes.items()}


def recording(parts: list[tuple[Samples, str]]) -> tuple[Samples, Oracle, list[float]]:
    """The parts one after another with half a second between them, whole frames each; the
    oracle that knows them, and the seconds where each part starts."""
    pieces: list[Samples] = []
    languages: list[str | None] = []
    starts: list[float] = []
    for samples, language in parts:
        starts.append(sum(len(piece) for piece in pieces) / SAMPLE_RATE)
        framed = np.concatenate([samples, np.zeros(-len(samples) % FRAME_SAMPLES, np.float32)])
        pieces += [framed, PAUSE]
        languages += [language] * (len(framed) // FRAME_SAMPLES) + [None] * (len(PAUSE) // FRAME_SAMPLES)
    stream = np.concatenate(pieces)
    return stream, Oracle(stream, languages), starts


def blocks(stream: Samples, size: int = 12_345) -> Iterator[Samples]:
    return (stream[start : start + size] for start in range(0, len(stream), size))


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Samples]:
    directory = tmp_path_factory.mktemp("spoken")
    texts = {"en": (PARAGRAPHS[0], "en-us"), "es": (SPANISH, "es"), "de": (GERMAN, "de")}
    return {
        language: load_audio(str(speak(text, directory / f"{language}.wav", 150, voice)), None, 60)
        for language, (text, voice) in texts.items()
    }


def test_three_languages_make_three_runs_at_their_changes(spoken: dict[str, Samples]) -> None:
    stream, oracle, starts = recording([(spoken[language], language) for language in ("en", "es", "de")])
    heard = map_blocks(blocks(stream), oracle)
    assert [run.language for run in heard.runs] == ["en", "es", "de"]
    assert heard.runs[0].start_s == 0.0 and heard.runs[-1].end_s is None
    for before, after in zip(heard.runs, heard.runs[1:], strict=False):
        assert before.end_s == after.start_s, "the runs cover the recording"
    for run, start in zip(heard.runs[1:], starts[1:], strict=True):
        assert abs(run.start_s - start) < 1.0, (run, start)
    lengths = {language: len(spoken[language]) for language in ("en", "es", "de")}
    for share in heard.shares():
        assert abs(share.share - lengths[share.language] / sum(lengths.values())) < 0.05, share
    assert heard.duration_s == len(stream) / SAMPLE_RATE


def test_one_language_costs_one_hearing_for_each_chunk(spoken: dict[str, Samples]) -> None:
    stream, oracle, _ = recording([(spoken["en"], "en")] * 4)
    reported: list[float] = []
    heard = map_blocks(blocks(stream), oracle, reported.append)
    assert heard.runs == (LanguageRun("en", 0.0, None, heard.runs[0].speech_s),)
    assert len(reported) == len(oracle.heard) and reported == sorted(reported)
    assert reported[0] > 0 and reported[-1] <= heard.duration_s
    assert heard.shares() == (LanguageShare("en", 1.0),)
    speech_s = heard.runs[0].speech_s
    assert speech_s > 2 * CHUNK_S
    # Chunks end at pauses, so each holds at least CHUNK_S less a sentence (under 10 s here).
    assert len(oracle.heard) <= speech_s / (CHUNK_S - 10) + 1, "about one hearing for each 30 s"
    assert max(oracle.heard) <= CHUNK_S * SAMPLE_RATE


def test_a_change_is_heard_apart_only_around_it(spoken: dict[str, Samples]) -> None:
    stream, oracle, _ = recording([(spoken["en"], "en")] * 3 + [(spoken["es"], "es")] * 3)
    heard = map_blocks(blocks(stream), oracle)
    assert [run.language for run in heard.runs] == ["en", "es"]
    same, same_oracle, _ = recording([(spoken["en"], "en")] * 6)
    assert [run.language for run in map_blocks(blocks(same), same_oracle).runs] == ["en"]
    # Besides the chunks, only the two around the change are heard again, a group (a sentence
    # or more, at least MIN_HEARD_S) at a time; the chunks may differ by one.
    extra = len(oracle.heard) - len(same_oracle.heard)
    assert 4 <= extra <= 2 * CHUNK_S / MIN_HEARD_S + 1


def test_what_the_report_raises_ends_the_hearing(spoken: dict[str, Samples]) -> None:
    stream, oracle, _ = recording([(spoken["en"], "en")] * 4)

    def cancelled(heard_s: float) -> None:
        raise InterruptedError

    with pytest.raises(InterruptedError):
        map_blocks(blocks(stream), oracle, cancelled)
    assert len(oracle.heard) == 1


def test_a_recording_without_speech_is_heard_on_its_opening() -> None:
    quiet = np.random.default_rng(0).normal(0, 0.0005, 70 * SAMPLE_RATE).astype(np.float32)
    asked: list[int] = []

    def model(samples: Samples) -> dict[str, float]:
        asked.append(len(samples))
        return {"de": 0.7, "en": 0.3}

    heard = map_blocks(blocks(quiet), model)
    assert heard.runs == (LanguageRun("de", 0.0, None, 0.0),)
    assert heard.shares() == (LanguageShare("de", 1.0),)
    assert asked == [CHUNK_S * SAMPLE_RATE]


def test_an_empty_recording_has_no_language() -> None:
    with pytest.raises(ValueError, match="no audio"):
        map_blocks(iter(()), lambda samples: {"en": 1.0})


def test_a_short_run_joins_its_larger_neighbour() -> None:
    second = SAMPLE_RATE
    runs = [
        _Run("en", 0, 20 * second, 18 * second),
        _Run("fr", 21 * second, 22 * second, round((MIN_RUN_S - 1) * second)),
        _Run("es", 23 * second, 40 * second, 10 * second),
        _Run("en", 41 * second, 45 * second, 3 * second),
    ]
    smoothed = _smoothed(runs)
    assert [(run.language, run.first, run.last) for run in smoothed] == [
        ("en", 0, 22 * second),
        ("es", 23 * second, 45 * second),
    ]
    assert sum(run.speech for run in smoothed) == sum(run.speech for run in runs)


def test_runs_of_one_language_on_both_sides_of_a_short_one_become_one() -> None:
    second = SAMPLE_RATE
    runs = [
        _Run("en", 0, 10 * second, 9 * second),
        _Run("es", 11 * second, 12 * second, second),
        _Run("en", 13 * second, 30 * second, 16 * second),
    ]
    assert [(run.language, run.first, run.last) for run in _smoothed(runs)] == [("en", 0, 30 * second)]


def test_shares_are_of_the_speech() -> None:
    heard = LanguageMap(
        (LanguageRun("en", 0, 10, 6.0), LanguageRun("es", 10, 20, 3.0), LanguageRun("en", 20, None, 3.0)), 30
    )
    assert heard.shares() == (LanguageShare("en", 0.75), LanguageShare("es", 0.25))


def test_memory_is_two_chunks_whatever_the_length(spoken: dict[str, Samples]) -> None:
    """A quarter of an hour of speech, every chunk heard in another language than the one before
    (so every chunk is also heard piece by piece): numpy's allocations peak at a few chunks'
    samples, not at the recording's 58 MB."""
    speech = np.concatenate([spoken["en"], PAUSE])
    block = 10 * SAMPLE_RATE
    total = 15 * 60 * SAMPLE_RATE

    def looped() -> Iterator[Samples]:
        for start in range(0, total, block):
            yield np.take(speech, np.arange(start, start + block), mode="wrap")

    calls = 0

    def alternating(samples: Samples) -> dict[str, float]:
        nonlocal calls
        calls += 1
        return {("en", "es")[calls % 2]: 1.0}

    tracemalloc.start()
    try:
        heard = map_blocks(looped(), alternating)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert heard.duration_s == 15 * 60
    assert calls > 2 * 15 * 60 / CHUNK_S, "every chunk was heard again piece by piece"
    assert peak < 16 * 2**20, peak
