"""Renaming a transcript's speakers: SPEAKER_00 becomes "Alice" on every segment and word."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from decoder.transcript import Transcript

MAX_NAME_CHARS = 64


class BadNames(ValueError):
    """A renaming that cannot apply; the message says why."""


def renamed(transcript: Transcript, names: Mapping[str, str]) -> Transcript:
    """The transcript with each speaker named in `names` (old label -> new name) renamed."""
    unknown = [label for label in names if label not in transcript.speakers]
    if unknown:
        heard = ", ".join(transcript.speakers) or "none"
        raise BadNames(f"no speaker {unknown[0]!r} in this transcript (its speakers: {heard})")
    mapping = {label: " ".join(names.get(label, label).split()) for label in transcript.speakers}
    if any(not name or len(name) > MAX_NAME_CHARS for name in mapping.values()):
        raise BadNames(f"a speaker's name must hold 1 to {MAX_NAME_CHARS} characters")
    if len(set(mapping.values())) != len(mapping):
        raise BadNames("two speakers would have the same name")

    def new(label: str | None) -> str | None:
        return None if label is None else mapping[label]

    segments = tuple(
        replace(
            segment,
            speaker=new(segment.speaker),
            words=tuple(replace(word, speaker=new(word.speaker)) for word in segment.words),
        )
        for segment in transcript.segments
    )
    return replace(transcript, segments=segments, speakers=tuple(mapping.values()))
