"""Recovery after an interruption: the jobs a stopped server left unfinished, and the job a dead
decoder held. The supervision rules (whisper_api.jobs.dispatch.supervision) decide each one's
fate; a job they end is ended through whisper_api.jobs.tracker.endings."""

from __future__ import annotations

import logging
from collections.abc import Callable

from whisper_api.jobs.dispatch.queue import JobQueue, submission
from whisper_api.jobs.dispatch.supervision import Action, fate_after_crash, fate_on_requeue
from whisper_api.jobs.job import JobStatus, JobStore
from whisper_api.jobs.tracker.endings import Endings
from whisper_api.jobs.tracker.sharing import SharedQueue

log = logging.getLogger(__name__)


class Recovery:
    def __init__(
        self,
        store: JobStore,
        queue: JobQueue,
        shared: SharedQueue | None,
        endings: Endings,
        dispatch: Callable[[], None],
    ) -> None:
        self._store = store
        self._queue = queue
        self._shared = shared
        self._endings = endings
        self._dispatch = dispatch

    async def requeue_unfinished(self) -> None:
        """At start, with a store of this host's own: what the stopped server left unfinished
        waits again, in upload order, unless the rules end it."""
        self._queue.clear()
        for job in await self._store.unfinished():
            fate = fate_on_requeue(job)
            if fate.action is Action.REQUEUE:
                job.status = JobStatus.PENDING
                await self._store.save(job)
            if fate.action in (Action.KEEP, Action.REQUEUE):
                # A job that was decoding when the server stopped may be what stopped it.
                self._queue.add(submission(job), job.uploaded_at, alone=job.attempts > 0)
            else:
                await self._endings.carry_out(job, fate)
        if self._queue.count():
            log.info("queueing %d unfinished tasks again", self._queue.count())
        self._dispatch()

    async def retry_or_end(self, task_id: str) -> None:
        """A crashed decoder's job waits again, in its upload place, for the next free decoder,
        unless the supervision rules say otherwise."""
        # Read again: a cancellation may have changed or deleted it meanwhile.
        job = await self._store.get(task_id)
        if job is None:
            return
        fate = fate_after_crash(job)
        if fate.action is Action.REQUEUE and self._shared is not None:
            await self._shared.release(job)
        elif fate.action is Action.REQUEUE:
            job.status = JobStatus.PENDING
            await self._store.save(job)
            self._queue.add(submission(job), job.uploaded_at, alone=True)
        else:
            await self._endings.carry_out(job, fate)
