"""Every cue keeps every limit it was given, over generated transcripts and styles."""

from __future__ import annotations

from hypothesis import given, settings

from decoder.wire.transcript import Segment, Transcript, Word
from tests.unit.whisper_api.outputs.subtitles.strategies import styles, transcripts
from whisper_api.outputs.subtitles.layout import Cue, layout, no_label
from whisper_api.outputs.subtitles.style import STYLES, SubtitleStyle


def label(speaker: str | None) -> int:
    """As srt labels a cue: `SPEAKER_00: `."""
    return len(f"{speaker}: ") if speaker else 0


def check(transcript: Transcript, style: SubtitleStyle, cues: list[Cue], label_width: object) -> None:
    assert callable(label_width)
    words = [word for segment in transcript.segments for word in segment.text.split()]
    # Words keep their order; none is lost or doubled.
    assert [token.text for cue in cues for token in cue.tokens] == words
    previous = None
    for cue in cues:
        assert cue.start_ms <= cue.end_ms
        if previous is not None:
            assert cue.start_ms >= previous.end_ms + (style.min_gap_ms or 0)
        tokens = cue.tokens
        # One speaker and one segment a cue.
        assert {token.speaker for token in tokens} == {cue.speaker}
        assert len({token.segment for token in tokens}) == 1
        if style.max_line_count is not None:
            assert len(cue.lines) <= style.max_line_count
        for number, line in enumerate(cue.lines):
            assert line, "no empty line"
            width = len(" ".join(token.text for token in line)) + (
                label_width(cue.speaker) if number == 0 else 0
            )
            if style.max_line_width is not None:
                assert width <= style.max_line_width or len(line) == 1
            if style.max_words_per_line is not None:
                assert len(line) <= style.max_words_per_line
        duration = cue.end_ms - cue.start_ms
        assert duration >= style.min_duration_ms
        longest = style.max_duration_ms
        if longest is not None:
            assert duration <= longest
        characters = label_width(cue.speaker) + len(" ".join(token.text for token in tokens))
        # The reading speed holds, except for one word too long to read in the longest duration.
        if longest is None or len(tokens) > 1 or style.reading_ms(characters) <= longest:
            assert duration >= style.reading_ms(characters)
        previous = cue


@settings(max_examples=300, deadline=None)
@given(transcripts(), styles())
def test_every_cue_keeps_every_limit(transcript: Transcript, style: SubtitleStyle) -> None:
    for label_width in (no_label, label):
        check(transcript, style, layout(transcript, style, label_width), label_width)


@settings(max_examples=100, deadline=None)
@given(transcripts())
def test_the_netflix_preset_holds_on_any_transcript(transcript: Transcript) -> None:
    style = STYLES["netflix"]
    check(transcript, style, layout(transcript, style, label), label)


def words(*timed: tuple[float, float, str]) -> tuple[Word, ...]:
    return tuple(Word(start, end, f" {text}", 0.9) for start, end, text in timed)


def one_segment(*timed: tuple[float, float, str], speaker: str | None = None) -> Transcript:
    spoken = words(*timed)
    text = "".join(word.word for word in spoken)
    segment = Segment(spoken[0].start, spoken[-1].end, text, spoken, speaker=speaker)
    return Transcript(text, "en", spoken[-1].end, (segment,))


def texts(cues: list[Cue]) -> list[tuple[str, ...]]:
    return [cue.text_lines for cue in cues]


def test_a_cue_is_cut_after_a_sentence_before_a_clause_before_a_pause() -> None:
    style = SubtitleStyle(max_line_width=20, max_line_count=1)
    said = one_segment(
        (0.0, 0.3, "We"), (0.3, 0.6, "went"), (0.6, 0.9, "home."), (0.9, 1.2, "Then,"),
        (1.2, 1.5, "we"), (1.5, 1.8, "slept"), (2.5, 2.8, "until"), (2.8, 3.1, "noon"),
    )  # fmt: skip
    assert texts(layout(said, style)) == [("We went home.",), ("Then, we slept",), ("until noon",)]
    # Without the sentence's end, the clause's; without either, the pause.
    said = one_segment((0.0, 0.3, "We"), (0.3, 0.6, "went"), (0.6, 0.9, "home,"), (0.9, 1.2, "then"))
    assert texts(layout(said, SubtitleStyle(max_line_width=16, max_line_count=1))) == [
        ("We went home,",),
        ("then",),
    ]
    said = one_segment((0.0, 0.3, "We"), (0.3, 0.6, "went"), (1.6, 1.9, "home"), (1.9, 2.2, "then"))
    assert texts(layout(said, SubtitleStyle(max_line_width=16, max_line_count=1))) == [
        ("We went",),
        ("home then",),
    ]


def test_two_lines_are_balanced_and_break_before_a_preposition() -> None:
    said = one_segment(
        *((index * 0.3, index * 0.3 + 0.3, word) for index, word in enumerate(
            ["the", "quiet", "night", "fell", "slowly", "over", "the", "sleeping", "town", "again"]
        ))
    )  # fmt: skip
    (cue,) = layout(said, SubtitleStyle(max_line_width=42, max_line_count=2))
    assert cue.text_lines == ("the quiet night fell slowly", "over the sleeping town again")
    # Never a lone word on the second line where the first can give one.
    said = one_segment(
        (0.0, 0.5, "Nobody"), (0.5, 1.0, "came"), (1.0, 1.5, "to"), (1.5, 2.0, "see"), (2.0, 2.5, "us")
    )  # fmt: skip
    (cue,) = layout(said, SubtitleStyle(max_line_width=20, max_line_count=2))
    assert cue.text_lines == ("Nobody came", "to see us")


def test_a_speaker_change_starts_a_new_cue() -> None:
    spoken = (Word(0.0, 0.4, " Hi", 0.9, "SPEAKER_00"), Word(0.5, 0.9, " there", 0.9, "SPEAKER_01"))
    segment = Segment(0.0, 0.9, " Hi there", spoken, speaker="SPEAKER_00")
    cues = layout(Transcript(" Hi there", "en", 1.0, (segment,)), SubtitleStyle())
    assert [(cue.speaker, cue.text_lines) for cue in cues] == [
        ("SPEAKER_00", ("Hi",)),
        ("SPEAKER_01", ("there",)),
    ]


def test_a_short_cue_is_held_for_its_reading_time_and_pushes_the_next() -> None:
    said = one_segment((0.0, 0.2, "Extraordinary."), (0.2, 0.4, "Yes."))
    style = SubtitleStyle(max_line_width=10, max_line_count=1, max_chars_per_second=10, min_gap_ms=100)
    first, second = layout(said, style)
    # 14 characters at 10 a second: 1.4 s, and the next one a gap later.
    assert (first.start_ms, first.end_ms) == (0, 1400)
    assert (second.start_ms, second.end_ms) == (1500, 1900)
