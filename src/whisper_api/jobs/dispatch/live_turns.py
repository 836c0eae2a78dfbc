"""Live turns on the host's decoders. A turn goes to a decoder that holds no file job where
there is one, and otherwise to the least loaded: the decoder takes it before its queued tasks,
and between two windows of the task in hand (decoder.process.service), so at most one window of file
decoding stands in its way. Turns never touch the job store or the disk."""

from __future__ import annotations

import asyncio

from decoder.wire.protocol import SUPERSEDED, DecodeTurn, TurnDecoded, TurnFailed
from whisper_api.jobs.dispatch.decoder_client import DecoderEvent, DecoderExited
from whisper_api.jobs.dispatch.pool import DecoderPool, DecoderSlot
from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.errors import TurnNotDecoded


class Superseded(TurnNotDecoded):
    """A newer partial turn of the session replaced this one in its decoder's queue."""


class LiveDecoders:
    def __init__(self, pool: DecoderPool, queue: JobQueue) -> None:
        self._pool = pool
        self._queue = queue
        # Turns sent and not answered: the slot each went to, and its answer to come.
        self._waiting: dict[str, tuple[int, asyncio.Future[TurnDecoded]]] = {}
        # Where each session's partial turns go, so that a newer one replaces one still waiting.
        self._partials_at: dict[str, int] = {}

    def on_decoder_event(self, slot: DecoderSlot, event: DecoderEvent) -> None:
        if isinstance(event, TurnDecoded | TurnFailed):
            _, answer = self._waiting.pop(event.turn_id, (None, None))
            if answer is None or answer.done():
                return
            if isinstance(event, TurnDecoded):
                answer.set_result(event)
            elif event.reason == SUPERSEDED:
                answer.set_exception(Superseded(event.reason))
            else:
                answer.set_exception(TurnNotDecoded(event.reason))
        elif isinstance(event, DecoderExited):
            lost = [turn_id for turn_id, (index, _) in self._waiting.items() if index == slot.index]
            for turn_id in lost:
                _, answer = self._waiting.pop(turn_id)
                if not answer.done():
                    answer.set_exception(TurnNotDecoded("the decoder stopped; say it again"))

    async def decode(self, turn: DecodeTurn) -> TurnDecoded:
        """The turn's text; raises TurnNotDecoded (Superseded for a replaced partial)."""
        slot = self._choose(turn)
        answer: asyncio.Future[TurnDecoded] = asyncio.get_running_loop().create_future()
        self._waiting[turn.turn_id] = (slot.index, answer)
        if turn.partial:
            self._partials_at[turn.session_id] = slot.index
        try:
            slot.decoder.send(turn)
            return await answer
        finally:
            self._waiting.pop(turn.turn_id, None)

    def forget(self, session_id: str) -> None:
        """The session ended."""
        self._partials_at.pop(session_id, None)

    def _choose(self, turn: DecodeTurn) -> DecoderSlot:
        up = [slot for slot in self._pool.slots if slot.takes_work]
        if not up:
            raise TurnNotDecoded("no decoder is running; try again shortly")
        if turn.partial:
            sticky = [slot for slot in up if slot.index == self._partials_at.get(turn.session_id)]
            if sticky:
                return sticky[0]
        load = {slot.index: 0 for slot in up}
        for index, _ in self._waiting.values():
            if index in load:
                load[index] += 1
        return min(up, key=lambda slot: (bool(self._queue.held_by(slot.index)), load[slot.index], slot.index))
