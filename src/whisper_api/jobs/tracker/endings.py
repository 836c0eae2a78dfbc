"""How the tracker (whisper_api.jobs.tracker.task_tracker) records a job's end and tells of it:
to the store, to the listener, to the clients waiting for it, and to the other hosts. It is also
where the fate the supervision rules (whisper_api.jobs.dispatch.supervision) give a job that a
decoder left behind is carried out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from whisper_api.jobs.dispatch.supervision import Action, Fate
from whisper_api.jobs.job import Job, JobStatus, JobStore
from whisper_api.jobs.tracker.sharing import Kind, News
from whisper_api.jobs.tracker.tracking import EndWaiters, JobListener

log = logging.getLogger(__name__)


class Endings:
    def __init__(
        self, store: JobStore, listener: JobListener, waiters: EndWaiters, tell: Callable[[News], None]
    ) -> None:
        self._store = store
        self._listener = listener
        self._waiters = waiters
        self._tell = tell

    async def record(self, job: Job) -> None:
        """Store a job that has finished or failed, and tell everyone who waits for it."""
        await self._store.finish(job)
        self._listener.job_changed(job, False)
        self._waiters.wake(job.task_id, job)
        self._tell(News(Kind.JOB, job.task_id))

    async def drop(self, job: Job) -> None:
        """A job cancelled while it was decoding is gone."""
        await self._store.remove(job)
        log.info("task %s was cancelled while decoding; it is gone", job.task_id)
        self._waiters.wake(job.task_id, None)
        self._listener.job_cancelled(job.task_id)
        self._tell(News(Kind.CANCELLED, job.task_id))

    async def carry_out(self, job: Job, fate: Fate) -> None:
        """Apply what the supervision rules decided of a job a decoder left behind (a fate that
        keeps or requeues it is for the caller)."""
        if fate.action is Action.DROP:
            await self.drop(job)
        elif fate.action is Action.FAIL:
            assert fate.reason is not None
            job.status, job.error, job.finished_at = JobStatus.FAILED, fate.reason, time.time()
            await self.record(job)
            log.error("task %s failed: %s", job.task_id, fate.reason)
