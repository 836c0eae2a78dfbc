"""The tracker's steps in a queue that several hosts share (whisper_api.jobs.tracker.sharing): claiming
jobs from the database for this host's free decoders, and acting on the other hosts' news.
TaskTracker (whisper_api.jobs.tracker.task_tracker) takes them in; `_Tracker` names what they use of it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

from decoder.wire.protocol import TaskProgress
from whisper_api.jobs.dispatch.pool import DecoderSlot
from whisper_api.jobs.dispatch.queue import JobQueue, submission
from whisper_api.jobs.dispatch.supervision import Action, Fate, fate_on_requeue
from whisper_api.jobs.errors import DecoderUnavailable, StoreUnavailable
from whisper_api.jobs.job import Job, JobStatus, JobStore
from whisper_api.jobs.tracker.sharing import Kind, News, SharedQueue
from whisper_api.jobs.tracker.tracking import EndWaiters, JobListener

# Why a claimed job fails on a host that cannot see its upload.
MISSING_UPLOAD = "the upload is not in this host's DATA_DIR; every host must share one DATA_DIR"


class _Tracker(Protocol):
    shared: SharedQueue | None
    store: JobStore
    queue: JobQueue
    _listener: JobListener
    _waiters: EndWaiters

    def _free_slots(self) -> list[DecoderSlot]: ...

    def _dispatch(self) -> None: ...

    def _stop_soon(self, task_id: str) -> None: ...

    async def _carry_out(self, job: Job, fate: Fate) -> None: ...


class SharedQueueSteps:
    async def _claim_for_free_slots(self: _Tracker) -> None:
        """Claim the next jobs of the shared queue for the free decoders, in upload order. A job
        whose host disappeared mid-decode meets the fate of one a server stop interrupted."""
        assert self.shared is not None
        with contextlib.suppress(StoreUnavailable):  # the next look at the queue tries again
            for slot in self._free_slots():
                while (job := await self.shared.claim()) is not None:
                    fate = fate_on_requeue(job)
                    if fate.action in (Action.DROP, Action.FAIL):
                        await self._carry_out(job, fate)
                    elif not await asyncio.to_thread(job.audio_path.exists):
                        await self._carry_out(job, Fate(Action.FAIL, MISSING_UPLOAD))
                    else:
                        if fate.action is Action.REQUEUE:
                            job.status = JobStatus.PENDING
                            await self.store.save(job)
                        try:
                            slot.decoder.send(submission(job))
                        except DecoderUnavailable:
                            await self.shared.release(job)  # it just died: the job goes back
                        else:
                            self.queue.hand(submission(job), slot.index)
                        break
                else:
                    return  # nothing waits
            self.shared.tell(News(Kind.QUEUE))

    async def _heard(self: _Tracker, news: News) -> None:
        """What another host said (a QUEUE message: after this host's picture was refreshed)."""
        if news.kind is Kind.QUEUE:
            self._dispatch()
        elif news.kind is Kind.CANCEL:
            self._stop_soon(news.task_id)
        elif news.kind is Kind.CANCELLED:
            self._listener.job_cancelled(news.task_id)
            self._waiters.wake(news.task_id, None)
        else:
            if news.kind is Kind.PROGRESS:
                progress = TaskProgress(news.task_id, news.decoded_s, news.duration_s)
                self.queue.record_progress(progress, time.monotonic())
            with contextlib.suppress(StoreUnavailable):
                job = await self.store.get(news.task_id)
                if job is not None:
                    self._listener.job_seen(job, news.kind is Kind.PROGRESS)
                    if job.done:
                        self.queue.ended(job.task_id)
                        self._waiters.wake(job.task_id, job)
