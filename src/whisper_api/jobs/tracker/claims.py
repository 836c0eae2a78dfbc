"""Claims in a queue that several hosts share (whisper_api.jobs.tracker.sharing): this host's free
decoders take the next jobs from the database, in upload order.

Claiming reads and writes the store, so it is work the tracker applies in turn with the rest:
`ask` puts one claim on its list (only one at a time, however often decoders come free), and
`claim` runs it there."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from whisper_api.jobs.dispatch.pool import DecoderSlot
from whisper_api.jobs.dispatch.queue import JobQueue, submission
from whisper_api.jobs.dispatch.supervision import Action, Fate, fate_on_requeue
from whisper_api.jobs.errors import DecoderUnavailable, StoreUnavailable
from whisper_api.jobs.job import Job, JobStatus, JobStore
from whisper_api.jobs.tracker.endings import Endings
from whisper_api.jobs.tracker.sharing import Kind, News, SharedQueue

# Why a claimed job fails on a host that cannot see its upload.
MISSING_UPLOAD = (
    "the upload is not in this host's DATA_DIR; every host must share one DATA_DIR, "
    "or keep the uploads in the database (MEDIA_STORE=database)"
)


class Claims:
    def __init__(
        self,
        shared: SharedQueue,
        store: JobStore,
        queue: JobQueue,
        endings: Endings,
        free_slots: Callable[[], list[DecoderSlot]],
        request: Callable[[], None],
    ) -> None:
        self._shared = shared
        self._store = store
        self._queue = queue
        self._endings = endings
        self._free_slots = free_slots
        self._request = request
        self._asked = False

    def ask(self) -> None:
        """Free decoders want jobs: have the tracker claim them, once however often asked."""
        if not self._asked:
            self._asked = True
            self._request()

    async def claim(self) -> None:
        """Claim the next jobs of the shared queue for the free decoders, in upload order. A job
        whose host disappeared mid-decode meets the fate of one a server stop interrupted."""
        self._asked = False
        with contextlib.suppress(StoreUnavailable):  # the next look at the queue tries again
            for slot in self._free_slots():
                while (job := await self._shared.claim()) is not None:
                    fate = fate_on_requeue(job)
                    if fate.action in (Action.DROP, Action.FAIL):
                        await self._endings.carry_out(job, fate)
                    elif not await self._at_hand(job):
                        await self._endings.carry_out(job, Fate(Action.FAIL, MISSING_UPLOAD))
                    else:
                        if fate.action is Action.REQUEUE:
                            job.status = JobStatus.PENDING
                            await self._store.save(job)
                        try:
                            slot.decoder.send(submission(job))
                        except DecoderUnavailable:
                            await self._shared.release(job)  # it just died: the job goes back
                        else:
                            self._queue.hand(submission(job), slot.index)
                        break
                else:
                    return  # nothing waits
            self._shared.tell(News(Kind.QUEUE))

    async def _at_hand(self, job: Job) -> bool:
        """Whether the job's upload is in this host's upload folder, once brought from the
        database where it is kept there."""
        return await self._shared.store.fetch_media(job) or await asyncio.to_thread(job.audio_path.exists)
