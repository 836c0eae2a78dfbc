"""Cancelling and deleting jobs for the tracker (whisper_api.jobs.tracker.task_tracker).

A waiting job is taken out of the queue (and out of the pipe of a decoder it was handed to)
and removed at once. A decoding one is marked, and whichever host decodes it is told to stop
it: the decoder here that holds it is sent CancelTask, and restarted if it has not stopped
CANCEL_KILL_AFTER_S later (a long ffmpeg run, say). An ended one is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from decoder.wire.protocol import CancelTask
from whisper_api.jobs.dispatch.pool import DecoderPool
from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.errors import DecoderUnavailable
from whisper_api.jobs.job import JobStatus, JobStore
from whisper_api.jobs.tracker.sharing import Kind, News
from whisper_api.jobs.tracker.tracking import CancelOutcome, EndWaiters, JobListener

log = logging.getLogger(__name__)

# A cancelled task still decoding this long after its CancelTask is stopped by killing its decoder.
CANCEL_KILL_AFTER_S = 10.0


class Cancels:
    def __init__(
        self,
        store: JobStore,
        queue: JobQueue,
        pool: DecoderPool,
        listener: JobListener,
        waiters: EndWaiters,
        tell: Callable[[News], None],
        refused: Callable[[str], bool],
    ) -> None:
        """`refused(task_id)`: whether its upload check refused a task started ahead, which
        its decoder must stop as it stops a cancelled one (whisper_api.jobs.tracker.head_start)."""
        self._store = store
        self._queue = queue
        self._pool = pool
        self._listener = listener
        self._waiters = waiters
        self._tell = tell
        self._refused = refused

    async def cancel(self, task_id: str) -> CancelOutcome | None:
        """Cancel or delete a job; None if there is no such job (any more)."""
        job = await self._store.get(task_id)
        if job is None:
            return None
        if job.status is JobStatus.PROCESSING:
            job.cancel_requested = True
            await self._store.request_cancel(job)
            self.stop_soon(task_id)
            # Whichever host decodes it stops it.
            self._tell(News(Kind.CANCEL, task_id))
            return CancelOutcome.CANCELLING
        # Handed to a decoder but not started: it takes it out of its pipe (TaskCancelled).
        self._queue.drop(task_id)
        self._tell_holder(task_id)
        await self._store.remove(job)
        self._waiters.wake(task_id, None)
        if not job.done:
            self._listener.job_cancelled(task_id)
            self._tell(News(Kind.CANCELLED, task_id))
            self._tell(News(Kind.QUEUE))
        return CancelOutcome.DELETED if job.done else CancelOutcome.CANCELLED

    def stop_soon(self, task_id: str) -> None:
        """Ask the decoder here that holds the task to stop it; force it after a while."""
        if self._queue.slot_holding(task_id) is not None:
            self._tell_holder(task_id)
            asyncio.get_running_loop().call_later(CANCEL_KILL_AFTER_S, self._stop_by_force, task_id)

    def _tell_holder(self, task_id: str) -> None:
        """Send CancelTask to the decoder that holds the task, if one does."""
        slot = self._queue.slot_holding(task_id)
        if slot is not None:
            with contextlib.suppress(DecoderUnavailable):
                self._pool.slots[slot].decoder.send(CancelTask(task_id))

    def _stop_by_force(self, task_id: str) -> None:
        """A cancelled task that did not stop between windows (a long ffmpeg run, say)."""
        slot = self._queue.slot_holding(task_id)
        if slot is not None and (task_id in self._queue.running or self._refused(task_id)):
            log.warning("cancelled task %s is still decoding: restarting decoder %d", task_id, slot)
            self._pool.slots[slot].decoder.kill()
