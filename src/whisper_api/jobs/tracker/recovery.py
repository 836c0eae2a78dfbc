"""The tracker's steps after an interruption: the jobs a stopped server left unfinished, the job
a dead decoder held, and carrying out what the supervision rules (whisper_api.jobs.dispatch.supervision)
decide of them. TaskTracker (whisper_api.jobs.tracker.task_tracker) takes them in; `_Tracker` names what they
use of it."""

from __future__ import annotations

import logging
import time
from typing import Protocol

from whisper_api.jobs.dispatch.queue import JobQueue, submission
from whisper_api.jobs.dispatch.supervision import Action, Fate, fate_after_crash, fate_on_requeue
from whisper_api.jobs.job import Job, JobStatus, JobStore
from whisper_api.jobs.tracker.sharing import SharedQueue

log = logging.getLogger(__name__)


class _Tracker(Protocol):
    shared: SharedQueue | None
    store: JobStore
    queue: JobQueue

    def _dispatch(self) -> None: ...

    async def _drop_cancelled(self, job: Job) -> None: ...

    async def _store_end(self, job: Job) -> None: ...

    async def _carry_out(self, job: Job, fate: Fate) -> None: ...


class RecoverySteps:
    async def _requeue_unfinished(self: _Tracker) -> None:
        """At start, with a store of this host's own: what the stopped server left unfinished
        waits again, in upload order, unless the rules end it."""
        self.queue.clear()
        for job in await self.store.unfinished():
            fate = fate_on_requeue(job)
            if fate.action is Action.REQUEUE:
                job.status = JobStatus.PENDING
                await self.store.save(job)
            if fate.action in (Action.KEEP, Action.REQUEUE):
                # A job that was decoding when the server stopped may be what stopped it.
                self.queue.add(submission(job), job.uploaded_at, alone=job.attempts > 0)
            else:
                await self._carry_out(job, fate)
        if self.queue.count():
            log.info("queueing %d unfinished tasks again", self.queue.count())
        self._dispatch()

    async def _retry_or_end(self: _Tracker, task_id: str) -> None:
        """A crashed decoder's job waits again, in its upload place, for the next free decoder,
        unless the supervision rules say otherwise."""
        # Read again: a cancellation may have changed or deleted it meanwhile.
        job = await self.store.get(task_id)
        if job is None:
            return
        fate = fate_after_crash(job)
        if fate.action is Action.REQUEUE and self.shared is not None:
            await self.shared.release(job)
        elif fate.action is Action.REQUEUE:
            job.status = JobStatus.PENDING
            await self.store.save(job)
            self.queue.add(submission(job), job.uploaded_at, alone=True)
        else:
            await self._carry_out(job, fate)

    async def _carry_out(self: _Tracker, job: Job, fate: Fate) -> None:
        """Apply what the supervision rules decided of a job a decoder left behind."""
        if fate.action is Action.DROP:
            await self._drop_cancelled(job)
        elif fate.action is Action.FAIL:
            assert fate.reason is not None
            job.status, job.error, job.finished_at = JobStatus.FAILED, fate.reason, time.time()
            await self._store_end(job)
            log.error("task %s failed: %s", job.task_id, fate.reason)
