"""Generated transcripts of random words, times and speakers, and generated subtitle styles."""

from __future__ import annotations

import string
from typing import TypeVar

from hypothesis import strategies as st

from decoder.wire.transcript import Segment, Transcript, Word
from whisper_api.outputs.subtitles.style import SubtitleStyle

# Words with the punctuation the layout cuts at, and markup characters the writers must escape.
WORDS = st.text(alphabet=string.ascii_letters + ".,?!;:'&<>{}[]\\-", min_size=1, max_size=12)
T = TypeVar("T")
SPEAKERS = st.sampled_from([None, "SPEAKER_00", "SPEAKER_01"])


@st.composite
def transcripts(draw: st.DrawFn) -> Transcript:
    segments = []
    at = draw(st.floats(0, 5))
    for _ in range(draw(st.integers(0, 5))):
        segment_speaker = draw(SPEAKERS)
        begin, words = at, []
        for _ in range(draw(st.integers(1, 30))):
            start = at + draw(st.floats(0, 2))
            at = start + draw(st.floats(0, 1.5))
            speaker = draw(st.sampled_from([segment_speaker, segment_speaker, "SPEAKER_01"]))
            words.append(Word(start, at, f" {draw(WORDS)}", 0.9, speaker if segment_speaker else None))
        text = "".join(word.word for word in words)
        timed = tuple(words) if draw(st.booleans()) else ()
        segments.append(Segment(begin, at, text, timed, speaker=segment_speaker))
    return Transcript("".join(s.text for s in segments), "en", at, tuple(segments))


def _maybe(values: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.one_of(st.none(), values)


@st.composite
def styles(draw: st.DrawFn) -> SubtitleStyle:
    shortest = draw(_maybe(st.floats(0.0, 3.0)))
    longest = draw(_maybe(st.floats(max(0.5, shortest or 0.0), 10.0)))
    return SubtitleStyle(
        max_line_width=draw(_maybe(st.integers(1, 60))),
        max_line_count=draw(_maybe(st.integers(1, 4))),
        max_words_per_line=draw(_maybe(st.integers(1, 10))),
        max_chars_per_second=draw(_maybe(st.floats(5.0, 40.0))),
        min_duration_s=shortest,
        max_duration_s=longest,
        min_gap_ms=draw(_maybe(st.integers(0, 500))),
        highlight_words=draw(st.booleans()),
    )
