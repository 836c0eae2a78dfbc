"""One live session: the client's audio through the ears and the turn detector, each turn that
ends to a decoder, and the text back as events.

- **Partial text.** While a turn is heard, its speech so far is decoded again after each second
  of new audio (one at a time; the decoder drops one that waits when a newer one comes). The
  words two such decodings in a row agree on, past those already sent, go out as a TextDelta.
  When the turn's final text comes, its words past as many as the deltas said go out as a last
  delta: joined, the deltas read as the final text wherever it kept the agreed words (a client
  shows the `completed` text in their place).
- **Order.** Turns end in the order they were committed, whichever decoder finishes first.
- **Back-pressure.** At most MAX_WAITING_TURNS of a session's turns wait for their decoder; a
  commit beyond that waits, and with it the caller, which stops reading the client's audio.
- **Off the event loop.** Decoding, resampling and VAD of the audio run on AUDIO_THREADS
  threads that every session shares, so a large append never stalls HTTP.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from decoder.wire.protocol import DecodeTurn, TurnDecoded
from whisper_api.jobs.errors import Refused, TurnNotDecoded
from whisper_api.live.events import (
    Cleared,
    Committed,
    LiveEvent,
    SpeechStarted,
    SpeechStopped,
    TextDelta,
    TurnCompleted,
)
from whisper_api.live.events import (
    TurnNotDecoded as TurnNotDecodedEvent,
)
from whisper_api.live.formats import OPENAI_FORMATS, AudioFormat
from whisper_api.live.turns import Closed, Opened, ServerVad, TurnDetector, new_item_id

if TYPE_CHECKING:
    from whisper_api.live.listening import Ears

# A partial decoding after each second of a turn's new audio.
PARTIAL_EVERY_S = 1.0
MAX_WAITING_TURNS = 2
AUDIO_THREADS = 2
_audio_work = ThreadPoolExecutor(AUDIO_THREADS, thread_name_prefix="live-audio")


class TurnDecoder(Protocol):
    async def decode(self, turn: DecodeTurn) -> TurnDecoded: ...

    def forget(self, session_id: str) -> None: ...


@dataclass(frozen=True)
class SessionConfig:
    audio_format: AudioFormat = OPENAI_FORMATS["audio/pcm"]
    # None: heard in each turn (a multilingual model), or English (an English-only one).
    language: str | None = None
    prompt: str | None = None
    # None: the client commits each turn.
    vad: ServerVad | None = field(default_factory=ServerVad)


class EmptyCommit(Refused):
    code = "input_audio_buffer_commit_empty"


def _open_ears(audio_format: AudioFormat) -> Ears:
    # numpy and onnxruntime come with the first audio of the host's first live session.
    listening = importlib.import_module("whisper_api.live.listening")
    ears: Ears = listening.Ears(audio_format)
    return ears


class LiveSession:
    def __init__(
        self,
        decoders: TurnDecoder,
        emit: Callable[[LiveEvent], Awaitable[None]],
        max_turn_s: float,
        config: SessionConfig | None = None,
    ) -> None:
        self.session_id = f"sess_{uuid.uuid4().hex[:24]}"
        self.config = config or SessionConfig()
        self._decoders = decoders
        self._emit = emit
        self._max_turn_s = max_turn_s
        self._ears: Ears | None = None
        self._detector = TurnDetector(self.config.vad, max_turn_s)
        self._previous_item: str | None = None
        self._room = asyncio.Semaphore(MAX_WAITING_TURNS)
        self._last_turn: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # The partial decoding in flight, the audio length it was last asked at, the last
        # partial words heard and the words sent as deltas, of each turn still being heard.
        self._partial: asyncio.Task[None] | None = None
        self._partial_at_s = 0.0
        self._guess: dict[str, list[str]] = {}
        self._said: dict[str, list[str]] = {}
        self.audio_s = 0.0

    def configure(self, config: SessionConfig) -> None:
        """New settings; a new format or turn detection starts afresh (audio not committed is
        dropped)."""
        if config.audio_format != self.config.audio_format:
            self._ears = None
        if config.vad != self.config.vad:
            self._detector = TurnDetector(config.vad, self._max_turn_s)
        self.config = config

    async def append(self, data: bytes) -> None:
        """Audio in the session's format; returns once its turns are with the decoders (at most
        MAX_WAITING_TURNS waiting)."""
        loop = asyncio.get_running_loop()
        if self._ears is None:
            self._ears = await loop.run_in_executor(_audio_work, _open_ears, self.config.audio_format)
        self.audio_s += len(data) / self.config.audio_format.bytes_per_second
        heard = await loop.run_in_executor(_audio_work, self._ears.hear, data)
        for frame, probability in heard:
            for change in self._detector.hear(frame, probability):
                if isinstance(change, Opened):
                    self._partial_at_s = 0.0
                    if self._detector.vad is not None:
                        await self._emit(SpeechStarted(change.turn.item_id, change.turn.start_ms))
                else:
                    await self._close(change)
        self._hear_partial()

    async def commit(self) -> None:
        closed = self._detector.commit()
        if closed is None:
            raise EmptyCommit("the input audio buffer holds no audio to commit", param="input_audio_buffer")
        await self._close(closed)

    async def clear(self) -> None:
        dropped = self._detector.clear()
        await self._emit(Cleared(dropped.item_id if dropped else new_item_id()))

    async def drain(self) -> None:
        """Wait until every committed turn has ended."""
        if self._last_turn is not None:
            await self._last_turn

    async def close(self) -> None:
        """Stop: turns still decoding are dropped."""
        for task in [*self._tasks, self._partial]:
            if task is not None:
                task.cancel()
        self._decoders.forget(self.session_id)

    async def _close(self, closed: Closed) -> None:
        turn = closed.turn
        if closed.by_silence:
            await self._emit(SpeechStopped(turn.item_id, closed.end_ms))
        await self._emit(Committed(turn.item_id, self._previous_item, turn.seconds))
        self._previous_item = turn.item_id
        await self._room.acquire()
        before, decode = self._last_turn, self._new_turn(turn.audio, partial=False)
        self._last_turn = self._spawn(self._finish(turn.item_id, turn.seconds, decode, before))

    async def _finish(
        self, item_id: str, seconds: float, decode: DecodeTurn, before: asyncio.Task[None] | None
    ) -> None:
        outcome: LiveEvent
        try:
            decoded = await self._decoders.decode(decode)
        except TurnNotDecoded as exc:
            outcome = TurnNotDecodedEvent(item_id, exc.message)
        else:
            outcome = TurnCompleted(item_id, decoded.text, decoded.language, seconds)
        finally:
            self._room.release()
        if before is not None:
            await before
        self._guess.pop(item_id, None)
        said = self._said.pop(item_id, [])
        if isinstance(outcome, TurnCompleted):
            # Deltas are not taken back: the final words past as many as were said go out.
            words = outcome.text.split()
            if len(words) > len(said):
                await self._emit(TextDelta(item_id, _joined(words[len(said) :], after=bool(said))))
        await self._emit(outcome)

    def _hear_partial(self) -> None:
        turn = self._detector.turn
        if turn is None or (self._partial is not None and not self._partial.done()):
            return
        if turn.seconds - self._partial_at_s < PARTIAL_EVERY_S:
            return
        self._partial_at_s = turn.seconds
        self._partial = self._spawn(self._guess_words(turn.item_id, self._new_turn(turn.audio, partial=True)))

    async def _guess_words(self, item_id: str, decode: DecodeTurn) -> None:
        try:
            decoded = await self._decoders.decode(decode)
        except TurnNotDecoded:
            return
        turn = self._detector.turn
        if turn is None or turn.item_id != item_id:
            return  # committed meanwhile: its final text is on its way
        words, before = decoded.text.split(), self._guess.get(item_id, [])
        self._guess[item_id] = words
        agreed = 0
        while agreed < min(len(words), len(before)) and _same(words[agreed], before[agreed]):
            agreed += 1
        said = self._said.setdefault(item_id, [])
        if agreed > len(said):
            await self._emit(TextDelta(item_id, _joined(words[len(said) : agreed], after=bool(said))))
            said.extend(words[len(said) : agreed])

    def _new_turn(self, audio: bytes, *, partial: bool) -> DecodeTurn:
        config = self.config
        turn_id = uuid.uuid4().hex
        return DecodeTurn(turn_id, self.session_id, audio, config.language, config.prompt, partial)

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _same(word: str, other: str) -> bool:
    """The same word, whatever its case and punctuation (a partial's last word lacks its comma)."""
    return word.strip('.,!?;:"').lower() == other.strip('.,!?;:"').lower()


def _joined(words: list[str], *, after: bool) -> str:
    return (" " if after else "") + " ".join(words)
