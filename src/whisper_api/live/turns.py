"""Where a session's turns begin and end: frames with their speech probability in, the turn's
frames and its events out. Server VAD opens a turn at the first frame of speech (with the
frames before it, up to the prefix padding) and closes it after enough silence; without it the
client's commit closes it. Either way a turn is closed at the longest a turn may be."""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field

# A frame: 512 samples at 16 kHz.
FRAME_MS = 32
# Silero's rule: speech goes on until the probability falls this far under the threshold.
HYSTERESIS = 0.15


@dataclass(frozen=True)
class ServerVad:
    """OpenAI's server_vad fields, with its defaults."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500


def new_item_id() -> str:
    return f"item_{uuid.uuid4().hex[:24]}"


@dataclass
class Turn:
    item_id: str
    frames: list[bytes] = field(default_factory=list)
    start_ms: int = 0

    @property
    def audio(self) -> bytes:
        return b"".join(self.frames)

    @property
    def seconds(self) -> float:
        return len(self.frames) * FRAME_MS / 1000


@dataclass(frozen=True)
class Opened:
    turn: Turn


@dataclass(frozen=True)
class Closed:
    """The turn ends here: `by_silence` where server VAD heard its end."""

    turn: Turn
    end_ms: int
    by_silence: bool


class TurnDetector:
    def __init__(self, vad: ServerVad | None, max_turn_s: float) -> None:
        self.vad = vad
        self._max_frames = int(max_turn_s * 1000 // FRAME_MS)
        self._heard_ms = 0
        self._prefix: deque[bytes] = deque(maxlen=max(0, (vad.prefix_padding_ms // FRAME_MS) if vad else 0))
        self._silent_frames = 0
        # The turn being heard: under server VAD only while speech goes on.
        self.turn: Turn | None = None

    def hear(self, frame: bytes, probability: float) -> list[Opened | Closed]:
        """What this frame does to the turns."""
        self._heard_ms += FRAME_MS
        vad = self.vad
        happened: list[Opened | Closed] = []
        if self.turn is None:
            if vad is not None and probability < vad.threshold:
                self._prefix.append(frame)
                return []
            padding = list(self._prefix) if vad is not None else []
            self._prefix.clear()
            start = self._heard_ms - FRAME_MS * (len(padding) + 1)
            self.turn = Turn(new_item_id(), padding, start)
            self._silent_frames = 0
            happened.append(Opened(self.turn))
        self.turn.frames.append(frame)
        if vad is not None:
            quiet = probability < vad.threshold - HYSTERESIS
            self._silent_frames = self._silent_frames + 1 if quiet else 0
            if self._silent_frames * FRAME_MS >= vad.silence_duration_ms:
                happened.append(self._close(by_silence=True))
                return happened
        if len(self.turn.frames) >= self._max_frames:
            happened.append(self._close(by_silence=False))
        return happened

    def commit(self) -> Closed | None:
        """The client's commit: the turn so far ends (None where there is none)."""
        return self._close(by_silence=False) if self.turn is not None and self.turn.frames else None

    def clear(self) -> Turn | None:
        """Drop the turn so far; returns it (None where there was none)."""
        dropped, self.turn = self.turn, None
        self._prefix.clear()
        return dropped

    def _close(self, *, by_silence: bool) -> Closed:
        assert self.turn is not None
        closed = Closed(self.turn, self._heard_ms, by_silence)
        self.turn = None
        return closed
