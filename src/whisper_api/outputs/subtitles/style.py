"""The limits a subtitle file keeps, and the named presets that set them all at once.

`netflix` takes its figures from Netflix's Timed Text Style Guide: General Requirements
(https://partnerhelp.netflixstudios.com/hc/en-us/articles/215758617): a subtitle event lasts
at least 5/6 of a second (20 frames at 24 fps) and at most 7 seconds, 2 frames apart at least,
on 2 lines at most; and from its English (USA) guide
(https://partnerhelp.netflixstudios.com/hc/en-us/articles/217350977): 42 characters a line,
and for adult programmes up to 20 characters a second. The gap is 2 frames at 24 fps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from whisper_api.settings.kinds import whole

# The widest line and the most lines a caller may ask for.
MAX_LINE_WIDTH = 1000
MAX_LINE_COUNT = 100


class StyleError(ValueError):
    """A subtitle field or preset that is not valid; the message names it and what it accepts."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        # The request field at fault.
        self.param = param


@dataclass(frozen=True)
class SubtitleStyle:
    """None (or False) leaves a limit out."""

    # Characters a line holds, spaces and punctuation included.
    max_line_width: int | None = None
    max_line_count: int | None = None
    max_words_per_line: int | None = None
    # Characters a second a cue may ask the reader to read (its text, line breaks left out).
    max_chars_per_second: float | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    min_gap_ms: int | None = None
    # Karaoke: each cue repeats once per word, with the word being spoken marked.
    highlight_words: bool = False

    @property
    def min_duration_ms(self) -> int:
        """Rounded up, but never past the longest duration's milliseconds (rounded down)."""
        shortest = math.ceil(self.min_duration_s * 1000) if self.min_duration_s else 0
        longest = self.max_duration_ms
        return shortest if longest is None else min(shortest, longest)

    @property
    def max_duration_ms(self) -> int | None:
        return math.floor(self.max_duration_s * 1000) if self.max_duration_s else None

    def reading_ms(self, characters: int) -> int:
        """The least time a cue of `characters` must stay up at the reading speed."""
        if not self.max_chars_per_second:
            return 0
        return math.ceil(characters * 1000 / self.max_chars_per_second)


# 2 frames at 24 fps, rounded up to whole milliseconds.
_FRAME_GAP_MS = math.ceil(2 * 1000 / 24)

STYLES: dict[str, SubtitleStyle] = {
    "netflix": SubtitleStyle(
        max_line_width=42,
        max_line_count=2,
        max_chars_per_second=20.0,
        min_duration_s=5 / 6,
        max_duration_s=7.0,
        min_gap_ms=_FRAME_GAP_MS,
    ),
}

# Each field's name as a request gives it, what it accepts, and its bounds.
_WHOLE: dict[str, tuple[int, int | None]] = {
    "max_line_width": (1, MAX_LINE_WIDTH),
    "max_line_count": (1, MAX_LINE_COUNT),
    "max_words_per_line": (1, None),
    "min_gap_ms": (0, 60_000),
}
_SECONDS: dict[str, tuple[float, float]] = {
    "max_chars_per_second": (1.0, 1000.0),
    "min_duration_s": (0.0, 60.0),
    "max_duration_s": (0.5, 600.0),
}
_DESCRIPTIONS = {
    "max_line_width": "characters a line holds",
    "max_line_count": "lines a cue holds",
    "max_words_per_line": "words a line holds",
    "min_gap_ms": "milliseconds between cues",
    "max_chars_per_second": "reading speed: characters a second a cue may ask for",
    "min_duration_s": "seconds a cue stays up at least",
    "max_duration_s": "seconds a cue stays up at most",
    "highlight_words": "karaoke: mark each word while it is spoken",
}
# The fields a request may give, as JSON Schema: the OpenAPI document publishes these.
STYLE_PROPERTIES: dict[str, dict[str, Any]] = {
    "style": {"enum": list(STYLES), "description": "a preset of every limit; given fields override it"},
    **{
        name: {"type": "integer", "minimum": low, **({"maximum": high} if high else {})}
        | {"description": _DESCRIPTIONS[name]}
        for name, (low, high) in _WHOLE.items()
    },
    **{
        name: {"type": "number", "minimum": low, "maximum": high, "description": _DESCRIPTIONS[name]}
        for name, (low, high) in _SECONDS.items()
    },
    "highlight_words": {"type": "boolean", "description": _DESCRIPTIONS["highlight_words"]},
}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def style_from(given: Mapping[str, str]) -> SubtitleStyle:
    """The style a request's fields ask for: `style`'s preset (none by default), each other field
    given overriding it. Raises StyleError for a value out of bounds or limits that contradict."""
    name = given.get("style")
    if name is not None and name not in STYLES:
        raise StyleError(f"style must be one of: {', '.join(STYLES)}", "style")
    chosen: dict[str, object] = {}
    for field, (low, high) in _WHOLE.items():
        if (raw := given.get(field)) is not None:
            chosen[field] = _whole(field, raw, low, high)
    for field, (low_s, high_s) in _SECONDS.items():
        if (raw := given.get(field)) is not None:
            chosen[field] = _number(field, raw, low_s, high_s)
    if (raw := given.get("highlight_words")) is not None:
        if raw.strip().lower() not in (*_TRUE, *_FALSE):
            raise StyleError("highlight_words must be true or false", "highlight_words")
        chosen["highlight_words"] = raw.strip().lower() in _TRUE
    style = replace(STYLES[name] if name else SubtitleStyle(), **chosen)  # type: ignore[arg-type]
    return _consistent(style)


def _consistent(style: SubtitleStyle) -> SubtitleStyle:
    shortest, longest = style.min_duration_s, style.max_duration_s
    if shortest and longest and shortest > longest:
        raise StyleError("min_duration_s must not be longer than max_duration_s", "min_duration_s")
    return style


def _whole(field: str, raw: str, low: int, high: int | None) -> int:
    try:
        return whole(low, high).parse(raw)
    except ValueError as exc:
        raise StyleError(f"{field} must be {exc}", field) from None


def _number(field: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        raise StyleError(f"{field} must be a number from {low:g} to {high:g}", field)
    return value
