from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from decoder.wire.transcript import LanguageShare, Segment, SegmentStats, Transcript, Word
from whisper_api.outputs.formats import FORMATS, UnknownFormat, openai_diarized_json, openai_json, render
from whisper_api.outputs.subtitles.style import SubtitleStyle

# The tests write segments, words and stats as tuples, in the records' field order.
SegmentRow = tuple[float, float, str]
WordRow = tuple[float, float, str, float]
StatsRow = tuple[int, tuple[int, ...], float, float, float, float]

TIMING = re.compile(r"(\d{2,}):(\d{2}):(\d{2})([,.])(\d{3}) --> (\d{2,}):(\d{2}):(\d{2})([,.])(\d{3})")


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    lines: tuple[str, ...]


def _ms(hours: str, minutes: str, seconds: str, millis: str) -> int:
    assert int(minutes) < 60 and int(seconds) < 60
    return ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)


def _parse_blocks(body: str, numbered: bool, decimal_mark: str) -> list[Cue]:
    """Cues of an srt body or a vtt body after its header, checking the layout on the way."""
    if body == "":
        return []
    assert body.endswith("\n") and not body.endswith("\n\n")
    cues = []
    for number, block in enumerate(body[:-1].split("\n\n"), start=1):
        lines = block.split("\n")
        if numbered:
            assert lines.pop(0) == str(number)
        match = TIMING.fullmatch(lines[0])
        assert match is not None, lines[0]
        assert match[4] == match[9] == decimal_mark
        text = tuple(lines[1:])
        assert text, "a cue needs text"
        for line in text:
            assert line.strip() == line and line
            assert "-->" not in line
        cues.append(Cue(_ms(*match.group(1, 2, 3, 5)), _ms(*match.group(6, 7, 8, 10)), text))
    for previous, cue in zip([None, *cues], cues, strict=False):
        assert cue.end_ms >= cue.start_ms
        assert previous is None or cue.start_ms >= previous.end_ms
    return cues


def parse_srt(document: str) -> list[Cue]:
    return _parse_blocks(document, numbered=True, decimal_mark=",")


def parse_vtt(document: str) -> list[Cue]:
    assert document.startswith("WEBVTT\n\n")
    cues = _parse_blocks(document[len("WEBVTT\n\n") :], numbered=False, decimal_mark=".")
    for cue in cues:
        for line in cue.lines:
            # Literal "<" must be escaped; every "&" must start a reference.
            assert "<" not in line
            assert re.sub(r"&(amp|lt);", "", line).count("&") == 0
    return [
        Cue(c.start_ms, c.end_ms, tuple(x.replace("&lt;", "<").replace("&amp;", "&") for x in c.lines))
        for c in cues
    ]


def cue_text(cues: list[Cue]) -> str:
    return " ".join(" ".join(cue.lines) for cue in cues)


def words_of(start: float, end: float, text: str) -> tuple[WordRow, ...]:
    """Whisper-like words (leading space) spread evenly over the span."""
    tokens = text.split()
    step = (end - start) / len(tokens)
    return tuple(
        (round(start + i * step, 3), round(start + (i + 1) * step, 3), f" {t}", 0.9)
        for i, t in enumerate(tokens)
    )


def transcript(
    *segments: SegmentRow, words: tuple[tuple[WordRow, ...], ...] = (), stats: tuple[StatsRow, ...] = ()
) -> Transcript:
    text = "".join(text for _, _, text in segments)
    records = tuple(
        Segment(
            start,
            end,
            text,
            words=tuple(Word(*word) for word in (words[index] if index < len(words) else ())),
            stats=SegmentStats(*stats[index]) if index < len(stats) else None,
        )
        for index, (start, end, text) in enumerate(segments)
    )
    return Transcript(text=text, language="en", duration_s=60.0, segments=records)


STATS: StatsRow = (0, (50364, 2425, 13), 0.0, -0.25, 1.2, 0.01)
SEGMENTS: tuple[SegmentRow, ...] = ((0.0, 2.5, " Hello there."), (2.5, 5.0, " General Kenobi!"))


def test_srt_layout() -> None:
    assert render(transcript(*SEGMENTS), "srt") == (
        "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n"
        "2\n00:00:02,500 --> 00:00:05,000\nGeneral Kenobi!\n"
    )


def test_vtt_layout() -> None:
    assert render(transcript(*SEGMENTS), "vtt") == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:02.500\nHello there.\n\n"
        "00:00:02.500 --> 00:00:05.000\nGeneral Kenobi!\n"
    )


def test_no_segments() -> None:
    empty = transcript()
    assert render(empty, "srt") == ""
    assert render(empty, "vtt") == "WEBVTT\n\n"
    assert render(empty, "txt") == ""
    assert render(empty, "tsv") == "start\tend\ttext\n"
    assert json.loads(render(empty, "json"))["segments"] == []


def test_hours_beyond_nine() -> None:
    document = render(transcript((36_000.0, 36_001.5, " late"), (450_000.25, 450_001.0, " later")), "srt")
    assert "10:00:00,000 --> 10:00:01,500" in document
    assert "125:00:00,250 --> 125:00:01,000" in document
    assert [c.start_ms for c in parse_srt(document)] == [36_000_000, 450_000_250]


def test_rounding_carries_into_the_next_minute() -> None:
    document = render(transcript((59.9994, 59.9996, " tick"), (3599.9996, 3600.0, " tock")), "vtt")
    assert "00:00:59.999 --> 00:01:00.000" in document
    assert "01:00:00.000 --> 01:00:00.000" in document
    parse_vtt(document)


def test_empty_segments_are_skipped_and_numbering_stays_consecutive() -> None:
    document = render(
        transcript((0.0, 1.0, " one"), (1.0, 2.0, "  "), (2.0, 3.0, ""), (3.0, 4.0, " two")), "srt"
    )
    cues = parse_srt(document)
    assert [c.lines for c in cues] == [("one",), ("two",)]
    assert render(transcript((0.0, 1.0, " "), (1.0, 2.0, " two")), "txt") == "two\n"


def test_overlapping_segments_are_clamped() -> None:
    document = render(
        transcript((0.0, 3.0, " a"), (2.0, 4.0, " b"), (2.5, 3.5, " c"), (5.0, 4.0, " d")), "srt"
    )
    assert [(c.start_ms, c.end_ms) for c in parse_srt(document)] == [
        (0, 3000),
        (3000, 4000),
        (4000, 4000),
        (5000, 5000),
    ]


def test_cue_arrows_and_blank_lines_never_reach_the_text() -> None:
    segment = (0.0, 1.0, " a --> b --->c\n\nd <--> e")
    for cues in (
        parse_srt(render(transcript(segment), "srt")),
        parse_vtt(render(transcript(segment), "vtt")),
    ):
        assert cues[0].lines == ("a -> b ->c d <-> e",)


def test_vtt_escapes_markup_characters() -> None:
    document = render(transcript((0.0, 1.0, " R&D <b>bold</b>")), "vtt")
    assert "R&amp;D &lt;b>bold&lt;/b>" in document
    assert parse_vtt(document)[0].lines == ("R&D <b>bold</b>",)


def test_line_width_wraps_at_word_boundaries() -> None:
    text = " The quick brown fox jumps over the lazy dog and keeps running far away"
    for fmt, parse in (("srt", parse_srt), ("vtt", parse_vtt)):
        cues = parse(render(transcript((0.0, 6.0, text)), fmt, SubtitleStyle(max_line_width=20)))
        assert len(cues) == 1
        assert all(len(line) <= 20 for line in cues[0].lines)
        assert len(cues[0].lines) == 4
        assert cue_text(cues) == text.strip()


def test_a_word_longer_than_the_width_stays_whole() -> None:
    cues = parse_srt(
        render(
            transcript((0.0, 2.0, " a Pneumonoultramicroscopic b")), "srt", SubtitleStyle(max_line_width=8)
        )
    )
    assert cues[0].lines == ("a", "Pneumonoultramicroscopic", "b")


def test_line_count_splits_a_segment_on_word_timings() -> None:
    text = " one two three four five six seven eight"
    words: tuple[WordRow, ...] = ((1.0, 1.5, " one", 0.9), (1.6, 2.0, " two", 0.9), (2.1, 2.5, " three", 0.9))
    words += ((2.6, 3.0, " four", 0.9), (3.2, 3.5, " five", 0.9), (3.6, 4.0, " six", 0.9))
    words += ((4.1, 4.6, " seven", 0.9), (4.7, 5.0, " eight", 0.9))
    document = render(
        transcript((0.5, 5.5, text), words=(words,)),
        "srt",
        SubtitleStyle(max_line_width=10, max_line_count=2),
    )
    cues = parse_srt(document)
    assert [c.lines for c in cues] == [("one two", "three four"), ("five six", "seven"), ("eight",)]
    assert [(c.start_ms, c.end_ms) for c in cues] == [(1000, 3000), (3200, 4600), (4700, 5000)]


def test_line_count_splits_proportionally_without_words() -> None:
    cues = parse_vtt(
        render(
            transcript((10.0, 20.0, " aaaa bbbb cccc dddd")),
            "vtt",
            SubtitleStyle(max_line_width=4, max_line_count=1),
        )
    )
    assert [(c.start_ms, c.end_ms) for c in cues] == [
        (10000, 12500),
        (12500, 15000),
        (15000, 17500),
        (17500, 20000),
    ]


def test_words_that_do_not_spell_the_text_fall_back_to_proportional_timing() -> None:
    words: tuple[WordRow, ...] = ((0.0, 0.1, " something", 0.5), (0.1, 0.2, " else", 0.5))
    document = render(
        transcript((0.0, 4.0, " ab cd"), words=(words,)),
        "srt",
        SubtitleStyle(max_line_width=2, max_line_count=1),
    )
    assert [(c.start_ms, c.end_ms) for c in parse_srt(document)] == [(0, 2000), (2000, 4000)]


def test_line_count_alone_keeps_one_line_per_cue() -> None:
    cues = parse_srt(render(transcript(*SEGMENTS), "srt", SubtitleStyle(max_line_count=1)))
    assert [c.lines for c in cues] == [("Hello there.",), ("General Kenobi!",)]


TEXTS = st.lists(
    st.sampled_from(["hi", "there", "a", "-->", "&", "<i>", "extraordinarily", "x\ty"]),
    min_size=0,
    max_size=14,
)


@st.composite
def segments_and_words(draw: st.DrawFn) -> tuple[tuple[SegmentRow, ...], tuple[tuple[WordRow, ...], ...]]:
    segments: list[SegmentRow] = []
    words: list[tuple[WordRow, ...]] = []
    for tokens in draw(st.lists(TEXTS, max_size=6)):
        start = draw(st.floats(0, 40_000, allow_nan=False))
        end = start + draw(st.floats(-1, 30, allow_nan=False))
        text = "".join(f" {t}" for t in tokens)
        segments.append((start, end, text))
        with_words = draw(st.booleans())
        words.append(words_of(start, end, text) if tokens and with_words else ())
    return tuple(segments), tuple(words)


@given(
    segments_and_words(),
    st.one_of(st.none(), st.integers(1, 30)),
    st.one_of(st.none(), st.integers(1, 4)),
)
def test_subtitles_stay_valid_for_any_input(
    data: tuple[tuple[SegmentRow, ...], tuple[tuple[WordRow, ...], ...]], width: int | None, count: int | None
) -> None:
    segments, words = data
    expected = " ".join(" ".join(text.split()) for _, _, text in segments if text.strip())
    for fmt, parse in (("srt", parse_srt), ("vtt", parse_vtt)):
        cues = parse(
            render(
                transcript(*segments, words=words),
                fmt,
                SubtitleStyle(max_line_width=width, max_line_count=count),
            )
        )
        assert cue_text(cues) == expected.replace("-->", "->")
        for cue in cues:
            assert count is None or len(cue.lines) <= count
            for line in cue.lines:
                assert width is None or len(line) <= width or " " not in line


def test_tsv_rows() -> None:
    document = render(transcript((0.0, 1.2344, " tab\there\nnewline"), (61.5, 62.0, " next")), "tsv")
    assert document == "start\tend\ttext\n0\t1234\ttab here newline\n61500\t62000\tnext\n"
    assert all(line.count("\t") == 2 for line in document.splitlines())


def test_txt_has_one_line_per_segment() -> None:
    assert render(transcript(*SEGMENTS, (5.0, 6.0, " two\nlines ")), "txt") == (
        "Hello there.\nGeneral Kenobi!\ntwo lines\n"
    )


def test_json_without_words_or_stats() -> None:
    document = json.loads(render(transcript((0.0, 1.23456, " Hi")), "json"))
    assert document == {
        "text": " Hi",
        "language": "en",
        "duration": 60.0,
        "segments": [{"id": 0, "start": 0.0, "end": 1.235, "text": " Hi"}],
    }


def test_json_with_words_and_stats() -> None:
    words = (((0.0, 0.5, " Hello", 0.987654), (0.5, 1.0, " there.", 0.5)), ((2.5, 5.0, " General", 0.25),))
    document = json.loads(render(transcript(*SEGMENTS, words=words, stats=(STATS, STATS)), "json"))
    assert set(document) == {"text", "language", "duration", "segments", "words"}
    first = document["segments"][0]
    assert set(first) == {"id", "start", "end", "text", "seek", "tokens"} | {
        "temperature",
        "avg_logprob",
        "compression_ratio",
        "no_speech_prob",
    }
    assert [s["id"] for s in document["segments"]] == [0, 1]
    assert first["tokens"] == [50364, 2425, 13] and isinstance(first["seek"], int)
    assert document["words"][0] == {"word": "Hello", "start": 0.0, "end": 0.5, "probability": 0.9877}
    assert [w["word"] for w in document["words"]] == ["Hello", "there.", "General"]


def test_json_keeps_non_ascii_text() -> None:
    assert "Grüße" in render(transcript((0.0, 1.0, " Grüße")), "json")


def verbose_json(transcript: Transcript) -> dict[str, Any]:
    """OpenAI's verbose_json of an English transcription, with its segments and words."""
    return openai_json(
        transcript,
        verbose=True,
        task="transcribe",
        language_name="english",
        include_words=True,
        include_segments=True,
        temperature=0.0,
    )


def test_openai_plain_json() -> None:
    body = openai_json(
        transcript(*SEGMENTS),
        verbose=False,
        task="transcribe",
        language_name="english",
        include_words=True,
        include_segments=True,
        temperature=0.0,
    )
    assert body == {"text": " Hello there. General Kenobi!"}


def test_openai_verbose_json_with_stats_and_words() -> None:
    words = tuple(words_of(start, end, text) for start, end, text in SEGMENTS)
    body = openai_json(
        transcript(*SEGMENTS, words=words, stats=(STATS, STATS)),
        verbose=True,
        task="translate",
        language_name="german",
        include_words=True,
        include_segments=True,
        temperature=0.4,
    )
    assert (body["task"], body["language"], body["duration"]) == ("translate", "german", 60.0)
    assert body["text"] == " Hello there. General Kenobi!"
    assert body["segments"][1] == {
        "id": 1,
        "seek": 0,
        "start": 2.5,
        "end": 5.0,
        "text": " General Kenobi!",
        "tokens": [50364, 2425, 13],
        "temperature": 0.0,
        "avg_logprob": -0.25,
        "compression_ratio": 1.2,
        "no_speech_prob": 0.01,
    }
    assert body["words"][0] == {"word": "Hello", "start": 0.0, "end": 1.25}
    assert len(body["words"]) == 4
    json.dumps(body)


def test_openai_verbose_json_fills_missing_stats_and_omits_unasked_parts() -> None:
    body = openai_json(
        transcript(*SEGMENTS),
        verbose=True,
        task="transcribe",
        language_name="english",
        include_words=False,
        include_segments=True,
        temperature=0.4,
    )
    assert "words" not in body
    segment = body["segments"][0]
    assert (segment["seek"], segment["tokens"], segment["temperature"]) == (0, [], 0.4)
    assert (segment["avg_logprob"], segment["compression_ratio"], segment["no_speech_prob"]) == (
        0.0,
        0.0,
        0.0,
    )
    bare = openai_json(
        transcript(*SEGMENTS),
        verbose=True,
        task="transcribe",
        language_name="english",
        include_words=True,
        include_segments=False,
        temperature=0.0,
    )
    assert set(bare) == {"task", "language", "duration", "text", "words"} and bare["words"] == []


def test_every_format_has_a_media_type() -> None:
    assert set(FORMATS) == {"json", "txt", "srt", "vtt", "ass", "lrc", "tsv"}
    for fmt in FORMATS:
        assert isinstance(render(transcript(*SEGMENTS), fmt), str)


def test_unknown_format() -> None:
    with pytest.raises(UnknownFormat, match="ass, json, lrc, srt, tsv, txt, vtt") as caught:
        render(transcript(*SEGMENTS), "docx")
    assert isinstance(caught.value, ValueError)
    assert "'docx'" in str(caught.value)


def _labelled() -> Transcript:
    words = (Word(0.0, 0.5, " Hi", 0.9, "SPEAKER_00"), Word(1.0, 1.5, " there", 0.8, "SPEAKER_01"))
    return Transcript(
        text="Hi there",
        language="en",
        duration_s=2.0,
        segments=(
            Segment(0.0, 0.5, " Hi", words[:1], speaker="SPEAKER_00"),
            Segment(1.0, 1.5, " there", words[1:], speaker="SPEAKER_01"),
        ),
        speakers=("SPEAKER_00", "SPEAKER_01"),
    )


def test_every_format_says_who_speaks() -> None:
    transcript = _labelled()
    assert render(transcript, "txt") == "[SPEAKER_00] Hi\n[SPEAKER_01] there\n"
    assert "00:00:00,000 --> 00:00:00,500\nSPEAKER_00: Hi\n" in render(transcript, "srt")
    assert "00:00:01.000 --> 00:00:01.500\n<v SPEAKER_01>there\n" in render(transcript, "vtt")
    assert (
        render(transcript, "tsv")
        == "start\tend\ttext\tspeaker\n0\t500\tHi\tSPEAKER_00\n1000\t1500\tthere\tSPEAKER_01\n"
    )
    document = json.loads(render(transcript, "json"))
    assert document["speakers"] == ["SPEAKER_00", "SPEAKER_01"]
    assert [segment["speaker"] for segment in document["segments"]] == ["SPEAKER_00", "SPEAKER_01"]
    assert [word["speaker"] for word in document["words"]] == ["SPEAKER_00", "SPEAKER_01"]
    verbose = verbose_json(transcript)
    assert [word["speaker"] for word in verbose["words"]] == ["SPEAKER_00", "SPEAKER_01"]


def test_openai_diarized_json_has_one_speaker_per_segment() -> None:
    body = openai_diarized_json(_labelled())
    assert body["task"] == "transcribe" and body["duration"] == 2.0 and body["text"] == "Hi there"
    assert body["segments"] == [
        {
            "type": "transcript.text.segment",
            "id": "seg_0",
            "start": 0.0,
            "end": 0.5,
            "text": "Hi",
            "speaker": "SPEAKER_00",
        },
        {
            "type": "transcript.text.segment",
            "id": "seg_1",
            "start": 1.0,
            "end": 1.5,
            "text": "there",
            "speaker": "SPEAKER_01",
        },
    ]


def test_a_speaker_name_cannot_break_the_format() -> None:
    segment = Segment(0.0, 1.0, " Hello", speaker="Ann <host>\n--> & co")
    transcript = Transcript("Hello", "en", 1.0, (segment,), speakers=(segment.speaker or "",))
    assert "<v Ann &lt;host&gt; --&gt; &amp; co>Hello\n" in render(transcript, "vtt")
    assert "\nAnn <host> -> & co: Hello\n" in render(transcript, "srt")
    assert render(transcript, "txt") == "[Ann <host> -> & co] Hello\n"
    assert render(transcript, "tsv").splitlines()[1].split("\t")[3] == "Ann <host> --> & co"


def test_without_speakers_nothing_changes() -> None:
    plain = Transcript("Hi", "en", 1.0, (Segment(0.0, 1.0, " Hi"),))
    assert render(plain, "txt") == "Hi\n"
    assert render(plain, "tsv") == "start\tend\ttext\n0\t1000\tHi\n"
    assert "speaker" not in render(plain, "json")


def _bilingual() -> Transcript:
    segments = (
        Segment(0.0, 2.0, "Good morning.", language="en"),
        Segment(2.5, 4.0, "Buenos días.", language="es"),
    )
    shares = (LanguageShare("en", 0.571428), LanguageShare("es", 0.428572))
    return Transcript("Good morning. Buenos días.", "en", 4.0, segments, languages=shares)


def test_every_json_body_says_each_segments_language() -> None:
    document = json.loads(render(_bilingual(), "json"))
    assert [segment["language"] for segment in document["segments"]] == ["en", "es"]
    assert document["languages"] == [{"language": "en", "share": 0.5714}, {"language": "es", "share": 0.4286}]
    verbose = verbose_json(_bilingual())
    assert [segment["language"] for segment in verbose["segments"]] == ["en", "es"]
    assert [segment["language"] for segment in openai_diarized_json(_bilingual())["segments"]] == ["en", "es"]


def test_a_transcript_without_languages_has_no_language_keys() -> None:
    document = json.loads(render(transcript((0.0, 1.0, " Hi")), "json"))
    assert "languages" not in document and "language" not in document["segments"][0]
    assert "language" not in openai_diarized_json(_labelled())["segments"][0]
