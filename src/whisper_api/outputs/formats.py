"""A finished transcript rendered in each download format: json, txt, srt, vtt and tsv.

Subtitles (srt, vtt) follow their specs strictly enough for picky players: cues in order and
never overlapping, no cue arrow and no blank line inside a cue's text. Where the task labelled
speakers, every format says who speaks: a `speaker` on segments and words (json), `[SPEAKER_00]`
before each line (txt), `SPEAKER_00: ` before a cue's text (srt), a `<v SPEAKER_00>` voice span
(vtt) and a fourth column (tsv). `openai_json` builds the
bodies OpenAI's audio API returns, so its clients can talk to this server unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from decoder.wire.transcript import Segment, SegmentStats, Transcript, Word

FORMATS: dict[str, str] = {
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "tsv": "text/tab-separated-values",
}


# What a rendered segment, its statistics and a word hold, as JSON Schema. The OpenAPI document
# (whisper_api.api.openapi.schemas) is built from these, so a key added here is documented with it.
SEGMENT_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"},
    "start": {"type": "number"},
    "end": {"type": "number"},
    "text": {"type": "string"},
    "speaker": {"type": "string"},
}
STATS_PROPERTIES: dict[str, Any] = {
    "seek": {"type": "integer"},
    "tokens": {"type": "array", "items": {"type": "integer"}},
    "temperature": {"type": "number"},
    "avg_logprob": {"type": "number"},
    "compression_ratio": {"type": "number"},
    "no_speech_prob": {"type": "number"},
}
WORD_PROPERTIES: dict[str, Any] = {
    "word": {"type": "string"},
    "start": {"type": "number"},
    "end": {"type": "number"},
    "probability": {"type": "number"},
    "speaker": {"type": "string"},
}


class UnknownFormat(ValueError):
    """A format name that is not a key of FORMATS."""

    def __init__(self, fmt: str) -> None:
        super().__init__(f"unknown format {fmt!r}; choose one of: {', '.join(sorted(FORMATS))}")


@dataclass(frozen=True)
class _Cue:
    start_ms: int
    end_ms: int
    lines: tuple[str, ...]
    speaker: str | None = None


def render(
    transcript: Transcript,
    fmt: str,
    *,
    max_line_width: int | None = None,
    max_line_count: int | None = None,
) -> str:
    """The transcript as a document of format `fmt`; the line options apply to srt and vtt."""
    if fmt not in FORMATS:
        raise UnknownFormat(fmt)
    for name, value in (("max_line_width", max_line_width), ("max_line_count", max_line_count)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, not {value}")
    if fmt == "json":
        return json.dumps(_json_document(transcript), ensure_ascii=False)
    if fmt == "txt":
        # Whitespace collapsed so a segment never spills onto a second line.
        lines = ((segment, " ".join(segment.text.split())) for segment in transcript.segments)
        return "".join(f"{_voice(segment, '[{}] ')}{line}\n" for segment, line in lines if line)
    if fmt == "tsv":
        return _tsv(transcript)
    cues = _cues(transcript, max_line_width, max_line_count)
    if fmt == "srt":
        return "\n".join(
            f"{number}\n{_timestamp(cue.start_ms, ',')} --> {_timestamp(cue.end_ms, ',')}\n"
            + _voice(cue, "{}: ")
            + "".join(f"{line}\n" for line in cue.lines)
            for number, cue in enumerate(cues, start=1)
        )
    return "WEBVTT\n\n" + "\n".join(
        f"{_timestamp(cue.start_ms, '.')} --> {_timestamp(cue.end_ms, '.')}\n"
        + (f"<v {_vtt_voice(cue.speaker)}>" if cue.speaker else "")
        + "".join(f"{_vtt_escape(line)}\n" for line in cue.lines)
        for cue in cues
    )


def openai_json(
    transcript: Transcript,
    *,
    verbose: bool,
    task: str,
    language_name: str,
    include_words: bool,
    include_segments: bool,
    temperature: float,
) -> dict[str, Any]:
    """The body of OpenAI's `json` (verbose False) or `verbose_json` transcription response.

    `language_name` is the lowercase English name OpenAI reports ("english"), and `temperature`
    stands in for segments whose decoder stats are missing.
    """
    if not verbose:
        return {"text": transcript.text}
    body: dict[str, Any] = {
        "task": task,
        "language": language_name,
        "duration": _seconds(transcript.duration_s),
        "text": transcript.text,
    }
    if include_segments:
        missing = SegmentStats(0, (), temperature, 0.0, 0.0, 0.0)
        body["segments"] = [
            _segment_fields(index, segment) | _stats_fields(segment.stats or missing)
            for index, segment in enumerate(transcript.segments)
        ]
    if include_words:
        body["words"] = [_word_fields(word) for segment in transcript.segments for word in segment.words]
    return body


def openai_diarized_json(transcript: Transcript) -> dict[str, Any]:
    """The body of OpenAI's `diarized_json` response: segments of one speaker each."""
    return {
        "task": "transcribe",
        "duration": _seconds(transcript.duration_s),
        "text": transcript.text,
        "segments": [
            {
                "type": "transcript.text.segment",
                "id": f"seg_{index}",
                "start": _seconds(segment.start),
                "end": _seconds(segment.end),
                "text": segment.text.strip(),
                "speaker": segment.speaker or "",
            }
            for index, segment in enumerate(transcript.segments)
        ],
    }


def _json_document(transcript: Transcript) -> dict[str, Any]:
    segments = [
        _segment_fields(index, segment) | (_stats_fields(segment.stats) if segment.stats else {})
        for index, segment in enumerate(transcript.segments)
    ]
    document: dict[str, Any] = {
        "text": transcript.text,
        "language": transcript.language,
        "duration": _seconds(transcript.duration_s),
        "segments": segments,
    }
    words = [
        _word_fields(word) | {"probability": _ratio(word.probability)}
        for segment in transcript.segments
        for word in segment.words
    ]
    if words:
        document["words"] = words
    if transcript.speakers:
        document["speakers"] = list(transcript.speakers)
    return document


def _segment_fields(index: int, segment: Segment) -> dict[str, Any]:
    fields = {
        "id": index,
        "start": _seconds(segment.start),
        "end": _seconds(segment.end),
        "text": segment.text,
    }
    return fields | ({"speaker": segment.speaker} if segment.speaker else {})


def _word_fields(word: Word) -> dict[str, Any]:
    fields = {"word": word.word.strip(), "start": _seconds(word.start), "end": _seconds(word.end)}
    return fields | ({"speaker": word.speaker} if word.speaker else {})


def _stats_fields(stats: SegmentStats) -> dict[str, Any]:
    return {
        "seek": stats.seek,
        "tokens": list(stats.tokens),
        "temperature": stats.temperature,
        "avg_logprob": _ratio(stats.avg_logprob),
        "compression_ratio": _ratio(stats.compression_ratio),
        "no_speech_prob": _ratio(stats.no_speech_prob),
    }


def _tsv(transcript: Transcript) -> str:
    # Integer milliseconds, as whisper's own CLI writes tsv, so existing tooling reads it; the
    # speaker column comes last, and only where speakers were labelled.
    labelled = bool(transcript.speakers)
    rows = ["start\tend\ttext\tspeaker\n" if labelled else "start\tend\ttext\n"]
    for segment in transcript.segments:
        # Collapsing all whitespace keeps tabs and newlines from breaking the columns.
        clean = " ".join(segment.text.split())
        speaker = f"\t{' '.join((segment.speaker or '').split())}" if labelled else ""
        if clean:
            rows.append(f"{_milliseconds(segment.start)}\t{_milliseconds(segment.end)}\t{clean}{speaker}\n")
    return "".join(rows)


def _voice(item: Segment | _Cue, pattern: str) -> str:
    """`pattern` around the speaker of a segment or cue, on one line; "" where there is none."""
    return pattern.format(_without_arrows(" ".join(item.speaker.split()))) if item.speaker else ""


def _vtt_voice(name: str) -> str:
    # A voice annotation ends at ">" and may not hold a line break.
    return _vtt_escape(" ".join(name.split())).replace(">", "&gt;")


def _cues(transcript: Transcript, max_line_width: int | None, max_line_count: int | None) -> list[_Cue]:
    cues: list[_Cue] = []
    previous_end_ms = 0
    for segment in transcript.segments:
        for start, end, lines in _split_segment(segment, max_line_width, max_line_count):
            # Clamp in whole milliseconds, after rounding, so printed cues can never overlap.
            start_ms = max(_milliseconds(start), previous_end_ms)
            end_ms = max(_milliseconds(end), start_ms)
            text = tuple(_without_arrows(line) for line in lines)
            cues.append(_Cue(start_ms, end_ms, text, segment.speaker))
            previous_end_ms = end_ms
    return cues


def _split_segment(
    segment: Segment, max_line_width: int | None, max_line_count: int | None
) -> list[tuple[float, float, list[str]]]:
    """The segment's cues as (start, end, lines): one, or several when it has too many lines."""
    start, end = segment.start, segment.end
    tokens = segment.text.split()
    if not tokens:
        return []
    lines = _wrap(tokens, max_line_width) if max_line_width is not None else [tokens]
    per_cue = max_line_count or len(lines)
    chunks = [lines[i : i + per_cue] for i in range(0, len(lines), per_cue)]
    if len(chunks) == 1:
        return [(start, end, [" ".join(line) for line in lines])]
    # Each chunk's span in the text counted in non-space characters, which both the text and
    # whisper's words (spaced differently) share.
    spans = []
    offset = 0
    for chunk in chunks:
        length = sum(len(token) for line in chunk for token in line)
        spans.append((offset, offset + length))
        offset += length
    placed = _place_words(tokens, segment.words)
    cues = []
    for (a, b), chunk in zip(spans, chunks, strict=True):
        if placed is None:
            cue_start = start + (end - start) * a / offset
            cue_end = start + (end - start) * b / offset
        else:
            inside = [(w_start, w_end) for wa, wb, w_start, w_end in placed if wa < b and wb > a]
            cue_start, cue_end = inside[0][0], inside[-1][1]
        cues.append((cue_start, cue_end, [" ".join(line) for line in chunk]))
    return cues


def _wrap(tokens: list[str], width: int) -> list[list[str]]:
    """Greedy word wrap; a token longer than `width` gets a line of its own, unbroken."""
    lines: list[list[str]] = []
    line: list[str] = []
    length = 0
    for token in tokens:
        if line and length + 1 + len(token) <= width:
            line.append(token)
            length += 1 + len(token)
        else:
            if line:
                lines.append(line)
            line, length = [token], len(token)
    lines.append(line)
    return lines


def _place_words(tokens: list[str], words: tuple[Word, ...]) -> list[tuple[int, int, float, float]] | None:
    """Each word's non-space character span and times; None when the words don't spell the text."""
    placed = []
    offset = 0
    for word in words:
        length = len("".join(word.word.split()))
        if length:
            placed.append((offset, offset + length, word.start, word.end))
            offset += length
    if not placed or "".join("".join(w.word for w in words).split()) != "".join(tokens):
        return None
    return placed


def _without_arrows(line: str) -> str:
    # Looped because one pass turns "--->" into "-->" again.
    while "-->" in line:
        line = line.replace("-->", "->")
    return line


def _vtt_escape(line: str) -> str:
    # WebVTT cue text reads "&" and "<" as markup, so literal ones must be character references.
    return line.replace("&", "&amp;").replace("<", "&lt;")


def _timestamp(milliseconds: int, decimal_mark: str) -> str:
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{decimal_mark}{millis:03d}"


def _milliseconds(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _seconds(seconds: float) -> float:
    return round(seconds, 3)


def _ratio(value: float) -> float:
    return round(value, 4)
