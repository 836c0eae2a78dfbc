"""What a live session tells its client, in the order it happens to a turn:

    SpeechStarted -> (TextDelta ...) -> SpeechStopped -> Committed -> (TextDelta ...)
        -> TurnCompleted | TurnNotDecoded

(with manual commits, Committed alone starts the turn's end). The OpenAI Realtime endpoint and
the Wyoming server each render them in their own protocol.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LiveEvent:
    # The turn (OpenAI's conversation item) the event is about.
    item_id: str


@dataclass(frozen=True)
class SpeechStarted(LiveEvent):
    # From the start of the session's audio, the prefix padding included.
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped(LiveEvent):
    # From the start of the session's audio, the silence that ended the turn included.
    audio_end_ms: int


@dataclass(frozen=True)
class Committed(LiveEvent):
    previous_item_id: str | None
    audio_s: float


@dataclass(frozen=True)
class TextDelta(LiveEvent):
    """More of the turn's text: the deltas of a turn, joined, are its final text wherever the
    final decoding kept the words the partial ones agreed on."""

    delta: str


@dataclass(frozen=True)
class TurnCompleted(LiveEvent):
    text: str
    language: str
    audio_s: float


@dataclass(frozen=True)
class TurnNotDecoded(LiveEvent):
    reason: str


@dataclass(frozen=True)
class Cleared(LiveEvent):
    """The audio not yet committed was dropped (item_id: the turn it would have been)."""
