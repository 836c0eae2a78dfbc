"""Moves jobs through their life: submits them to the decoder, applies the decoder's reports
and the clients' cancellations to the store, and applies the supervisor's rules (whisper_api.
jobs.supervision) when the decoder dies.

One consumer task is the only writer of existing jobs: decoder events, cancellations and
re-queueing after a restart are applied one at a time, in arrival order, so no two updates
of a job can interleave. Where the store cannot write (a full or read-only disk), the same
piece of work is tried again, with a backoff, until it applies: nothing the decoder reported
is dropped, and every step is written so that applying it again does no harm. The front
end's view of the queue (whisper_api.jobs.queue) mirrors the decoder's FIFO and gives every
pending job its position.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from decoder.protocol import (
    CancelTask,
    DetectLanguage,
    LanguageDetected,
    SubmitTask,
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    TaskProgress,
    TaskStarted,
)
from whisper_api.jobs.decoder_client import DecoderEvent, DecoderExited
from whisper_api.jobs.errors import DecoderUnavailable, DetectionFailed, StoreUnavailable
from whisper_api.jobs.job import Job, JobStatus, JobStore
from whisper_api.jobs.queue import JobQueue
from whisper_api.jobs.supervision import Action, DecoderSupervisor, Fate, fate_after_crash, fate_on_requeue

log = logging.getLogger(__name__)

# A cancelled task still decoding this long after its CancelTask is stopped by killing the decoder.
CANCEL_KILL_AFTER_S = 10.0
# Backoff between tries of work the store could not apply.
STORE_RETRY_FIRST_S = 0.5
STORE_RETRY_MAX_S = 10.0


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"  # it was waiting
    DELETED = "deleted"  # it had ended
    CANCELLING = "cancelling"  # it is decoding; the decoder stops it within seconds


@dataclass
class _Cancel:
    task_id: str
    outcome: asyncio.Future[CancelOutcome | None] = field(default_factory=asyncio.Future)


class _Requeue:
    """A new decoder is up: send it every unfinished job."""


_Work = DecoderEvent | _Cancel | _Requeue | None


class JobListener(Protocol):
    """Who hears of the tracker's changes (whisper_api.jobs.notifier); called on the loop thread."""

    def job_changed(self, job: Job, progressed: bool) -> None:
        """A job started or ended, or (progressed=True) decoded further."""

    def job_cancelled(self, task_id: str) -> None:
        """A cancelled job is gone: its watchers stop waiting."""

    def decoder_changed(self, event: DecoderEvent) -> None:
        """Every message of the decoder (its status, its model, ...) and its exit."""


class TaskTracker:
    def __init__(
        self, store: JobStore, supervisor: DecoderSupervisor, queue: JobQueue, listener: JobListener
    ) -> None:
        self.store = store
        self.supervisor = supervisor
        self.decoder = supervisor.decoder
        self.queue = queue
        self._listener = listener
        self._end_waiters: dict[str, list[asyncio.Future[Job | None]]] = {}
        self._work: asyncio.Queue[_Work] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self, upload_dir: Path) -> None:
        """Start the decoder and queue every unfinished job again, in upload order.

        Files in `upload_dir` that no unfinished job needs (uploads cut off by a crash, audio
        of jobs that ended just before one) are deleted first.
        """
        needed = {job.audio_path.name for job in await self.store.unfinished()}
        await asyncio.to_thread(_remove_files_except, upload_dir, needed)
        await self.supervisor.start(self.on_decoder_event)
        await self._requeue_unfinished()
        self._consumer = asyncio.create_task(self._consume(), name="job-tracker")

    async def close(self) -> None:
        """Apply all work still queued (the last task's result included), then stop.

        Work the store still refuses then is given up: what it would have recorded stays pending
        in the store, and the next start decodes it again."""
        self._closing = True
        await self.supervisor.close()
        if self._consumer is not None:
            self._work.put_nowait(None)
            await self._consumer

    def on_decoder_event(self, event: DecoderEvent) -> None:
        if isinstance(event, TaskProgress):
            # Progress is only shown, never stored.
            if self.queue.record_progress(event, time.monotonic()) and self.queue.running is not None:
                self._listener.job_changed(self.queue.running, True)
        elif isinstance(event, LanguageDetected):
            self._answer_detection(event.task_id, (event.language, event.probability))
        elif isinstance(event, TaskFailed) and event.task_id in self.queue.detections:
            failed = DetectionFailed(f"language detection failed: {event.reason}")
            self._answer_detection(event.task_id, failed)
        elif isinstance(event, TaskStarted | TaskFinished | TaskFailed | TaskCancelled | DecoderExited):
            self._work.put_nowait(event)
        self._listener.decoder_changed(event)

    def _answer_detection(self, task_id: str, answer: tuple[str, float] | Exception) -> None:
        future = self.queue.detections.get(task_id)
        if future is None or future.done():
            return
        if isinstance(answer, Exception):
            future.set_exception(answer)
        else:
            future.set_result(answer)

    async def submit(self, job: Job) -> None:
        await self.store.add(job)
        self.queue.add(_submission(job))
        self._send_waiting()

    async def cancel(self, task_id: str) -> CancelOutcome | None:
        """Cancel or delete a job; None if there is no such job (any more)."""
        request = _Cancel(task_id)
        self._work.put_nowait(request)
        return await request.outcome

    async def wait_for_end(self, task_id: str) -> Job | None:
        """The job once it has ended (None if it was cancelled or expired first)."""
        waiter: asyncio.Future[Job | None] = asyncio.get_running_loop().create_future()
        self._end_waiters.setdefault(task_id, []).append(waiter)
        job = await self.store.get(task_id)
        if job is None or job.done:
            self._end_waiters[task_id].remove(waiter)
            return job
        return await waiter

    async def detect_language(self, task_id: str, audio_path: str, audio_format: str) -> tuple[str, float]:
        """Queue a language detection behind the tasks waiting and wait for its answer."""
        answer: asyncio.Future[tuple[str, float]] = asyncio.get_running_loop().create_future()
        self.queue.detections[task_id] = answer
        try:
            self.decoder.send(DetectLanguage(task_id, audio_path, audio_format))
            return await answer
        except DecoderUnavailable as exc:
            raise DetectionFailed(f"language detection failed: {exc}") from exc
        finally:
            self.queue.detections.pop(task_id, None)

    def _send_waiting(self) -> None:
        """Send the decoder every waiting job it has not been sent, in order."""
        if not self.decoder.running:
            return  # the restart sends them
        for submission in self.queue.unsent():
            try:
                self.decoder.send(submission)
            except DecoderUnavailable:
                return  # it just died: the next decoder is sent the queue
            self.queue.mark_sent(submission.task_id)

    async def _consume(self) -> None:
        while (work := await self._work.get()) is not None:
            try:
                await self._apply_until_stored(work)
            except Exception:
                log.exception("could not apply %s", type(work).__name__)
                if isinstance(work, _Cancel) and not work.outcome.done():
                    work.outcome.set_result(None)

    async def _apply_until_stored(self, work: DecoderEvent | _Cancel | _Requeue) -> None:
        delay = STORE_RETRY_FIRST_S
        while True:
            try:
                await self._apply(work)
                return
            except StoreUnavailable as exc:
                if self._closing:
                    log.error("stopping with %s not stored (%s)", type(work).__name__, exc)
                    raise
                log.warning("%s waits for the job store: %s", type(work).__name__, exc)
                await asyncio.sleep(delay)
                delay = min(STORE_RETRY_MAX_S, delay * 2)

    async def _apply(self, work: DecoderEvent | _Cancel | _Requeue) -> None:
        if isinstance(work, _Cancel):
            work.outcome.set_result(await self._cancel(work.task_id))
        elif isinstance(work, _Requeue):
            await self._requeue_unfinished()
        elif isinstance(work, DecoderExited):
            await self._decoder_died(work)
        elif isinstance(work, TaskStarted):
            await self._started(work)
        elif isinstance(work, TaskFinished | TaskFailed | TaskCancelled):
            await self._ended(work)

    async def _started(self, event: TaskStarted) -> None:
        self.queue.drop(event.task_id)
        job = await self.store.get(event.task_id)
        if job is not None:
            job.status, job.started_at = JobStatus.PROCESSING, event.started_at
            job.target_model_size = event.target_model_size
            job.attempts += 1
            await self.store.save(job)
            self.queue.started(job, time.monotonic())
            self._listener.job_changed(job, False)

    async def _ended(self, event: TaskFinished | TaskFailed | TaskCancelled) -> None:
        self.queue.ended(event.task_id)
        job = await self.store.get(event.task_id)
        if job is None:
            return
        if job.cancel_requested or isinstance(event, TaskCancelled):
            await self._drop_cancelled(job)
            return
        if isinstance(event, TaskFinished):
            run, transcript = event.run, event.transcript
            if not transcript.duration_s and job.duration_s:
                # The decoder did not measure the audio; the upload check's figure stands.
                transcript = dataclasses.replace(transcript, duration_s=job.duration_s)
            job.status, job.result, job.duration_s = JobStatus.FINISHED, transcript, transcript.duration_s
            job.target_model_size, job.used_model_size = run.target_model_size, run.used_model_size
            job.used_device = run.used_device
            job.started_at, job.finished_at = run.started_at, run.finished_at
        else:
            job.status, job.error, job.finished_at = JobStatus.FAILED, event.reason, event.finished_at
        await self._store_end(job)

    async def _store_end(self, job: Job) -> None:
        await self.store.finish(job)
        self._listener.job_changed(job, False)
        self._wake_end_waiters(job.task_id, job)

    async def _drop_cancelled(self, job: Job) -> None:
        await self.store.remove(job)
        log.info("task %s was cancelled while decoding; it is gone", job.task_id)
        self._wake_end_waiters(job.task_id, None)
        self._listener.job_cancelled(job.task_id)

    def _wake_end_waiters(self, task_id: str, job: Job | None) -> None:
        for waiter in self._end_waiters.pop(task_id, []):
            if not waiter.done():
                waiter.set_result(job)

    async def _cancel(self, task_id: str) -> CancelOutcome | None:
        job = await self.store.get(task_id)
        if job is None:
            return None
        if job.status is JobStatus.PROCESSING:
            job.cancel_requested = True
            await self.store.save(job)
            with contextlib.suppress(DecoderUnavailable):
                self.decoder.send(CancelTask(task_id))
            asyncio.get_running_loop().call_later(CANCEL_KILL_AFTER_S, self._stop_by_force, task_id)
            return CancelOutcome.CANCELLING
        # A decoder that is gone took its queue along; a new one is sent only what waits.
        if self.queue.drop(task_id):
            with contextlib.suppress(DecoderUnavailable):
                self.decoder.send(CancelTask(task_id))
        await self.store.remove(job)
        self._wake_end_waiters(task_id, None)
        if not job.done:
            self._listener.job_cancelled(task_id)
        return CancelOutcome.DELETED if job.done else CancelOutcome.CANCELLED

    def _stop_by_force(self, task_id: str) -> None:
        """A cancelled task that did not stop between windows (a long ffmpeg run, say)."""
        running = self.queue.running
        if running is not None and running.task_id == task_id:
            log.warning("cancelled task %s is still decoding: restarting the decoder", task_id)
            self.decoder.kill()

    async def _requeue_unfinished(self) -> None:
        self.queue.forget_decoder()
        for job in await self.store.unfinished():
            fate = fate_on_requeue(job)
            if fate.action is Action.REQUEUE:
                job.status = JobStatus.PENDING
                await self.store.save(job)
            if fate.action in (Action.KEEP, Action.REQUEUE):
                self.queue.add(_submission(job))
            else:
                await self._carry_out(job, fate)
        if self.queue.count():
            log.info("queueing %d unfinished tasks again", self.queue.count())
        self._send_waiting()

    async def _decoder_died(self, exited: DecoderExited) -> None:
        if not self.supervisor.is_current(exited):
            return  # a decoder that never came up; the restart in progress handles it
        log.error("the decoder process %s died (exit code %s)", exited.pid, exited.exitcode)
        for detection in self.queue.detections.values():
            if not detection.done():
                detection.set_exception(DetectionFailed("language detection failed: the decoder crashed"))
        running = self.queue.running
        if running is not None:
            # Read again: a cancellation may have changed or deleted it meanwhile.
            job = await self.store.get(running.task_id)
            if job is not None:
                await self._carry_out(job, fate_after_crash(job))
            # Only once the store took it: where it did not, this is tried again as it was.
            self.queue.ended(running.task_id)
        self.supervisor.restart(lambda: self._work.put_nowait(_Requeue()))

    async def _carry_out(self, job: Job, fate: Fate) -> None:
        """Apply what the supervision rules decided of a job a decoder left behind."""
        if fate.action is Action.DROP:
            await self._drop_cancelled(job)
        elif fate.action is Action.FAIL:
            assert fate.reason is not None
            job.status, job.error, job.finished_at = JobStatus.FAILED, fate.reason, time.time()
            await self._store_end(job)
            log.error("task %s failed: %s", job.task_id, fate.reason)


def _remove_files_except(directory: Path, keep: set[str]) -> None:
    for path in directory.iterdir():
        if path.name not in keep:
            log.info("removing orphaned upload %s", path.name)
            path.unlink(missing_ok=True)


def _submission(job: Job) -> SubmitTask:
    return SubmitTask(
        job.task_id, str(job.audio_path), job.task_type, job.language, job.options, job.audio_format
    )
