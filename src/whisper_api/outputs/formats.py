"""A finished transcript rendered in each download format: json, txt, tsv, and the subtitle
formats of whisper_api.outputs.subtitles (srt, vtt, ass, lrc), laid out by a SubtitleStyle.

Where the task labelled speakers, every format says who speaks: a `speaker` on segments and
words (json), `[SPEAKER_00]` before each line (txt), a fourth column (tsv), and in subtitles as
whisper_api.outputs.subtitles.writers says. `openai_json` builds the bodies OpenAI's audio API
returns, so its clients can talk to this server unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from decoder.wire.transcript import Segment, SegmentStats, Transcript, Word
from whisper_api.outputs.subtitles.style import SubtitleStyle
from whisper_api.outputs.subtitles.writers import SUBTITLE_FORMATS, without_arrows, write_subtitles

FORMATS: dict[str, str] = {
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    **SUBTITLE_FORMATS,
    "tsv": "text/tab-separated-values",
}
# Subtitles as they were before styles: one cue per segment (and speaker), on one line.
PLAIN = SubtitleStyle()


# What a rendered segment, its statistics and a word hold, as JSON Schema. The OpenAPI document
# (whisper_api.api.openapi.schemas) is built from these, so a key added here is documented with it.
SEGMENT_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"},
    "start": {"type": "number"},
    "end": {"type": "number"},
    "text": {"type": "string"},
    "speaker": {"type": "string"},
    # Where the task split the channels (channels=split): the channel it was heard on.
    "channel": {"type": "integer", "minimum": 0},
    # The language it was spoken in (a translation's: the language it was translated from).
    "language": {"type": "string"},
}
# A language heard in the recording, and its share of the speech (the document's `languages`).
LANGUAGE_SHARE_PROPERTIES: dict[str, Any] = {
    "language": {"type": "string"},
    "share": {"type": "number", "minimum": 0, "maximum": 1},
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


def render(transcript: Transcript, fmt: str, style: SubtitleStyle = PLAIN) -> str:
    """The transcript as a document of format `fmt`; `style` lays out the subtitle formats."""
    if fmt not in FORMATS:
        raise UnknownFormat(fmt)
    if fmt in SUBTITLE_FORMATS:
        return write_subtitles(transcript, fmt, style)
    if fmt == "json":
        return json.dumps(_json_document(transcript), ensure_ascii=False)
    if fmt == "txt":
        # Whitespace collapsed so a segment never spills onto a second line.
        lines = ((segment, " ".join(segment.text.split())) for segment in transcript.segments)
        return "".join(f"{_voice(segment, '[{}] ')}{line}\n" for segment, line in lines if line)
    return _tsv(transcript)


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
            | _language_field(segment)
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
    if transcript.languages:
        document["languages"] = languages_json(transcript)
    return document


def languages_json(transcript: Transcript) -> list[dict[str, Any]]:
    """Each language heard, with its share of the speech, the largest first."""
    return [{"language": heard.language, "share": _ratio(heard.share)} for heard in transcript.languages]


def _segment_fields(index: int, segment: Segment) -> dict[str, Any]:
    fields = {
        "id": index,
        "start": _seconds(segment.start),
        "end": _seconds(segment.end),
        "text": segment.text,
    }
    fields |= {"speaker": segment.speaker} if segment.speaker else {}
    fields |= {"channel": segment.channel} if segment.channel is not None else {}
    return fields | _language_field(segment)


def _language_field(segment: Segment) -> dict[str, Any]:
    return {"language": segment.language} if segment.language else {}


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


def _voice(item: Segment, pattern: str) -> str:
    """`pattern` around the speaker of a segment, on one line; "" where there is none."""
    return pattern.format(without_arrows(" ".join(item.speaker.split()))) if item.speaker else ""


def _milliseconds(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _seconds(seconds: float) -> float:
    return round(seconds, 3)


def _ratio(value: float) -> float:
    return round(value, 4)
