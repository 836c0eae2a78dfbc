"""Renaming a transcript's speakers: SPEAKER_00 becomes "Alice" on every segment and word."""

from __future__ import annotations

from collections.abc import Mapping

from decoder.wire.transcript import Transcript

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
    if any(not fit_name(name) for name in mapping.values()):
        raise BadNames(f"a speaker's name must hold 1 to {MAX_NAME_CHARS} printable characters")
    if len(set(mapping.values())) != len(mapping):
        raise BadNames("two speakers would have the same name")
    return transcript.with_speakers(mapping)


def fit_name(name: str) -> bool:
    """A speaker's name shows as itself: 1 to MAX_NAME_CHARS printable characters, not all blank
    (no control or invisible ones, such as a zero-width space)."""
    return 0 < len(name) <= MAX_NAME_CHARS and name.isprintable() and not name.isspace()
