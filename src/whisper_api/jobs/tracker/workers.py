"""The hosts that decode, as the hosts sharing one queue see them (whisper_api.jobs.tracker.sharing).

A host with decoders (ROLE=all or worker) says every third of a lease how many of them take
work, how many hold a task, and what they announced of their model; every host reads, as
often, how many hosts were heard from within a lease and how busy they are. From that:

- /metrics exports the workers alive and busy, for an autoscaler;
- /readyz of an API host says when no worker is alive (it still takes uploads: they wait);
- an API host, which runs no decoder, checks uploads (models, languages, options) against
  what the workers last announced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from decoder.wire.protocol import DecoderReady
from whisper_api.jobs.dispatch.pool import DecoderPool
from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.store.codec import from_plain, to_plain
from whisper_api.jobs.store.postgres import PostgresJobStore


@dataclass(frozen=True)
class Workforce:
    """The hosts heard from within a lease, and their decoders."""

    hosts: int = 0
    busy: int = 0
    decoders: int = 0


class ClusterWorkers:
    def __init__(self, store: PostgresJobStore, pool: DecoderPool, queue: JobQueue, lease_s: float) -> None:
        self._store = store
        self._pool = pool
        self._queue = queue
        self._lease_s = lease_s
        self.workforce = Workforce()
        # What the workers last announced of their model; None until one did.
        self.announced: DecoderReady | None = None

    async def beat(self) -> None:
        """Say how this host's decoders are, if it has any."""
        if self._pool.slots:
            working = sum(slot.takes_work for slot in self._pool.slots)
            busy = sum(not self._queue.is_free(slot.index) for slot in self._pool.slots)
            ready = self._pool.ready
            await self._store.worker_rows.announce(
                working, busy, None if ready is None else json.dumps(to_plain(ready))
            )

    async def look(self) -> None:
        """Read how the cluster's decoding hosts are."""
        self.workforce = Workforce(*await self._store.worker_rows.workers(self._lease_s))
        announced = await self._store.worker_rows.announced()
        if announced is not None:
            self.announced = from_plain(DecoderReady, json.loads(announced))

    async def retire(self) -> None:
        """This host stops: it is no worker any more (what it announced stays)."""
        if self._pool.slots:
            await self._store.worker_rows.retire()

    @property
    def ready(self) -> DecoderReady | None:
        """What uploads are checked against: this host's decoders', else the workers'."""
        return self._pool.ready or self.announced
