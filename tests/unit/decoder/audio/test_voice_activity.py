"""Voice activity over a stream: the spans are faster-whisper's own, heard a block at a time, and
splicing keeps exactly the samples inside them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from faster_whisper.vad import VadOptions, get_speech_timestamps

from decoder.audio.ffmpeg import load_audio
from decoder.audio.samples import SAMPLE_RATE
from decoder.audio.voice_activity import FRAME_SAMPLES, PAD_S, Span, SpanFinder, speech_spans, spliced
from tests.support.speech import PARAGRAPHS, speak

PAD = int(PAD_S * SAMPLE_RATE)


def test_the_spans_of_a_stream_are_faster_whispers_of_the_whole(tmp_path: Path) -> None:
    # Pauses of 1 s (shorter than the silence that ends a span) and 3 s, and 6 s at the end, with a
    # little noise.
    noise = np.random.default_rng(0)
    parts = []
    for index, pause_s in enumerate((1, 3, 6)):
        path = speak(PARAGRAPHS[index][:200], tmp_path / f"{index}.wav")
        parts.append(load_audio(str(path), None, 60))
        parts.append(noise.normal(0, 0.001, pause_s * SAMPLE_RATE).astype(np.float32))
    audio = np.concatenate(parts)
    theirs = get_speech_timestamps(audio, VadOptions())
    # Blocks of a length that is no multiple of Silero's frame.
    ours = speech_spans(audio[start : start + 12_345] for start in range(0, len(audio), 12_345))
    assert [Span(chunk["start"], chunk["end"]) for chunk in theirs] == ours
    assert len(ours) == 2, "the 1 s pause is inside a span, the 3 s one between two"
    assert ours[-1].end < len(audio) - 5 * SAMPLE_RATE


def _found(probabilities: list[float], samples: int) -> list[Span]:
    finder = SpanFinder()
    finder.add(np.array(probabilities, np.float32))
    return finder.finish(samples)


def test_a_span_ends_where_enough_quiet_begins_and_is_padded() -> None:
    frames_in_2_s = int(2 * SAMPLE_RATE / FRAME_SAMPLES) + 1
    # Silence, speech, a dip between the two thresholds (still speech), 2 s of quiet, speech to the end.
    heard = [0.0] * 100 + [0.9] * 50 + [0.4] * 10 + [0.1] * frames_in_2_s + [0.0] * 100 + [0.9] * 40
    total = len(heard) * FRAME_SAMPLES
    spans = _found(heard, total)
    first_end = 160 * FRAME_SAMPLES
    second_start = (160 + frames_in_2_s + 100) * FRAME_SAMPLES
    assert spans == [Span(100 * FRAME_SAMPLES - PAD, first_end + PAD), Span(second_start - PAD, total)]


def test_silence_has_no_span() -> None:
    assert speech_spans([np.zeros(10 * SAMPLE_RATE, np.float32)]) == []


@pytest.mark.parametrize("block", [7, 100, 1000])
def test_splicing_keeps_the_samples_inside_the_spans(block: int) -> None:
    samples = np.arange(1000, dtype=np.float32)
    spans = [Span(0, 3), Span(95, 105), Span(250, 251), Span(640, 1000)]
    pieces = list(spliced((samples[i : i + block] for i in range(0, 1000, block)), spans))
    expected = np.concatenate([samples[start:end] for start, end in spans])
    assert np.array_equal(np.concatenate(pieces), expected)
    assert all(len(piece) for piece in pieces)
