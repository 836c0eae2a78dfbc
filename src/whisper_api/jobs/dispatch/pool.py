"""The host's decoders: one slot per decoder process, each with its own client and supervisor
(whisper_api.jobs.dispatch.supervision), so that one that dies is restarted alone while the others go
on. Which slot holds which work is the queue's business (whisper_api.jobs.dispatch.queue); the tracker
hands work to free slots. An API host (ROLE=api) has a pool of none.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from decoder.wire.protocol import DecoderReady
from whisper_api.jobs.dispatch.decoder_client import DecoderClient, DecoderEvent
from whisper_api.jobs.dispatch.placement import Placement
from whisper_api.jobs.dispatch.supervision import DecoderSupervisor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecoderSlot:
    placement: Placement
    supervisor: DecoderSupervisor

    @property
    def index(self) -> int:
        return self.placement.index

    @property
    def decoder(self) -> DecoderClient:
        return self.supervisor.decoder

    @property
    def takes_work(self) -> bool:
        """Up, and not on its way back from a crash."""
        return self.decoder.running and not self.supervisor.restarting


SlotEventHandler = Callable[[DecoderSlot, DecoderEvent], None]


class DecoderPool:
    def __init__(self, slots: Sequence[DecoderSlot]) -> None:
        self.slots = tuple(slots)
        # Who else hears every decoder's messages, after the one that start() was given.
        self._watchers: list[SlotEventHandler] = []

    def watch(self, handler: SlotEventHandler) -> None:
        """Hand every decoder message to `handler` too (live turns' answers go there)."""
        self._watchers.append(handler)

    async def start(self, on_event: SlotEventHandler) -> None:
        """Start every decoder at once; their messages go to `on_event` with their slot. If one
        does not come up, the others are stopped again and its error is raised."""
        outcomes = await asyncio.gather(
            *(slot.supervisor.start(self._bound(on_event, slot)) for slot in self.slots),
            return_exceptions=True,
        )
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failures:
            await self.stop(timeout_s=1)
            await self.close()
            raise failures[0]

    @property
    def ready(self) -> DecoderReady | None:
        """What a running decoder announced (every decoder of a host runs the same settings)."""
        return next((slot.decoder.ready for slot in self.slots if slot.decoder.ready), None)

    @property
    def restarts(self) -> int:
        return sum(slot.supervisor.restarts for slot in self.slots)

    async def stop(self, timeout_s: float) -> None:
        """Ask every decoder to exit after its current task; kill those that overstay."""
        await asyncio.gather(*(slot.decoder.stop(timeout_s) for slot in self.slots))

    async def close(self) -> None:
        """Stop watching and restarting."""
        await asyncio.gather(*(slot.supervisor.close() for slot in self.slots))

    def _bound(self, on_event: SlotEventHandler, slot: DecoderSlot) -> Callable[[DecoderEvent], None]:
        def deliver(event: DecoderEvent) -> None:
            on_event(slot, event)
            for watcher in self._watchers:
                watcher(slot, event)

        return deliver
