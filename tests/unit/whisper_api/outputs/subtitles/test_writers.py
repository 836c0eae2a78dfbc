"""Every subtitle file parses with a real parser, and holds the cues of the layout: srt with the
`srt` package, vtt with webvtt-py, ass with pysubs2, lrc by its grammar."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pysubs2
import srt
import webvtt
from hypothesis import given, settings

from decoder.wire.transcript import Segment, Transcript, Word
from tests.unit.whisper_api.outputs.subtitles.strategies import styles, transcripts
from whisper_api.outputs.subtitles.layout import layout, no_label
from whisper_api.outputs.subtitles.style import STYLES, SubtitleStyle, style_from
from whisper_api.outputs.subtitles.writers import write_subtitles

LRC_LINE = re.compile(r"\[(\d{2,}):([0-5]\d)\.(\d{2})\](.*)")


def ms(delta: timedelta) -> int:
    return round(delta.total_seconds() * 1000)


def clock_ms(clock: str) -> int:
    hours, minutes, seconds = clock.split(":")
    return round((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000)


def arrowless(text: str) -> str:
    while "-->" in text:
        text = text.replace("-->", "->")
    return text


def srt_label(speaker: str | None) -> int:
    return len(f"{speaker}: ") if speaker else 0


@settings(max_examples=150, deadline=None)
@given(transcripts(), styles())
def test_every_format_parses_and_keeps_the_cues(transcript: Transcript, style: SubtitleStyle) -> None:
    plain = SubtitleStyle(**{**style.__dict__, "highlight_words": False})
    cues = layout(transcript, plain, srt_label)
    parsed = list(srt.parse(write_subtitles(transcript, "srt", plain)))
    assert [(ms(s.start), ms(s.end)) for s in parsed] == [(c.start_ms, c.end_ms) for c in cues]
    for subtitle, cue in zip(parsed, cues, strict=True):
        labelled = f"{cue.speaker}: " if cue.speaker else ""
        assert subtitle.content == arrowless(labelled + "\n".join(cue.text_lines))

    cues = layout(transcript, plain, no_label)
    captions = webvtt.from_buffer(io.StringIO(write_subtitles(transcript, "vtt", plain))).captions
    assert [(clock_ms(c.start), clock_ms(c.end)) for c in captions] == [(c.start_ms, c.end_ms) for c in cues]
    assert [c.voice for c in captions] == [c.speaker for c in cues]

    events = pysubs2.SSAFile.from_string(write_subtitles(transcript, "ass", plain)).events
    assert [(e.start, e.end) for e in events] == [(c.start_ms // 10 * 10, c.end_ms // 10 * 10) for c in cues]
    for event, cue in zip(events, cues, strict=True):
        lines = [line.replace("\\", "/").replace("{", "(").replace("}", ")") for line in cue.text_lines]
        assert event.plaintext == "\n".join(lines)
        assert event.name == (cue.speaker or "")

    times = []
    for line in write_subtitles(transcript, "lrc", plain).splitlines()[1:]:
        match = LRC_LINE.fullmatch(line)
        assert match, line
        times.append((int(match[1]) * 60 + int(match[2])) * 100 + int(match[3]))
    assert times == sorted(times)


@settings(max_examples=100, deadline=None)
@given(transcripts(), styles())
def test_highlighted_words_repeat_each_cue_in_order(transcript: Transcript, style: SubtitleStyle) -> None:
    karaoke = SubtitleStyle(**{**style.__dict__, "highlight_words": True})
    cues = layout(transcript, karaoke, srt_label)
    parsed = list(srt.parse(write_subtitles(transcript, "srt", karaoke)))
    # Each repeat lies within its cue, marks one word, and they never overlap.
    for previous, subtitle in zip([None, *parsed], parsed, strict=False):
        assert previous is None or ms(subtitle.start) >= ms(previous.end)
        cue = next(cue for cue in cues if cue.start_ms <= ms(subtitle.start) < cue.end_ms)
        assert ms(subtitle.end) <= cue.end_ms
        literal = sum(token.text.count("<u>") for token in cue.tokens)
        assert subtitle.content.count("<u>") == 1 + literal
    # ass labels a speaker in the event's Name, not in the text.
    cues = layout(transcript, karaoke, no_label)
    events = pysubs2.SSAFile.from_string(write_subtitles(transcript, "ass", karaoke)).events
    for event, cue in zip(events, cues, strict=True):
        marks = [int(mark) for mark in re.findall(r"\{\\k(\d+)\}", event.text)]
        assert len(marks) == len(cue.tokens)
        assert sum(marks) == cue.end_ms // 10 - cue.start_ms // 10


def test_a_style_from_fields_starts_from_its_preset() -> None:
    netflix = style_from({"style": "netflix"})
    assert netflix == STYLES["netflix"]
    assert (netflix.max_line_width, netflix.max_line_count, netflix.max_chars_per_second) == (42, 2, 20.0)
    assert (netflix.min_duration_ms, netflix.max_duration_ms, netflix.min_gap_ms) == (834, 7000, 84)
    wider = style_from({"style": "netflix", "max_line_width": "37", "highlight_words": "true"})
    assert (wider.max_line_width, wider.max_line_count, wider.highlight_words) == (37, 2, True)
    assert style_from({}) == SubtitleStyle()


def test_a_field_out_of_bounds_names_itself() -> None:
    for fields, param in (
        ({"style": "bbc"}, "style"),
        ({"max_line_width": "0"}, "max_line_width"),
        ({"max_line_count": "two"}, "max_line_count"),
        ({"max_chars_per_second": "nan"}, "max_chars_per_second"),
        ({"min_duration_s": "3", "max_duration_s": "2"}, "min_duration_s"),
        ({"highlight_words": "maybe"}, "highlight_words"),
    ):
        try:
            style_from(fields)
        except ValueError as exc:
            assert getattr(exc, "param", None) == param
        else:
            raise AssertionError(f"{fields} was accepted")


def test_the_files_say_who_speaks_and_escape_markup() -> None:
    words = (Word(0.0, 0.5, " {Hi}", 0.9, "Ann, host"), Word(1.0, 1.5, " <b>&", 0.9, "Bo"))
    segment = Segment(0.0, 1.5, " {Hi} <b>&", words, speaker="Ann, host")
    transcript = Transcript(" {Hi} <b>&", "en", 2.0, (segment,), speakers=("Ann, host", "Bo"))
    plain = SubtitleStyle()
    assert "Ann, host: {Hi}\n" in write_subtitles(transcript, "srt", plain)
    assert "<v Bo>&lt;b>&amp;\n" in write_subtitles(transcript, "vtt", plain)
    ass = write_subtitles(transcript, "ass", plain)
    assert "Dialogue: 0,0:00:00.00,0:00:00.50,Default,Ann  host,0,0,0,,(Hi)\n" in ass
    assert "[00:01.00]Bo: (b)&\n[00:01.50]\n" in write_subtitles(transcript, "lrc", plain)
