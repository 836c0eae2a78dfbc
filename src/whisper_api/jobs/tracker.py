"""Moves jobs through their life: submits them to the decoder, applies the decoder's reports
to the store, and restarts the decoder when it dies.

One consumer task is the only writer of existing jobs: decoder events, cancellations and
re-queueing after a restart are applied one at a time, in arrival order, so no two updates
of a job can interleave. Where the store cannot write (a full or read-only disk), the same
piece of work is tried again, with a backoff, until it applies: nothing the decoder reported
is dropped, and every step is written so that applying it again does no harm. The front
end's view of the queue (`_waiting`) mirrors the decoder's FIFO and gives every pending job
its position.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

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
from whisper_api.jobs.decoder_client import DecoderClient, DecoderEvent, DecoderExited, DecoderUnavailable
from whisper_api.jobs.job import Job, JobStatus, JobStore, StoreUnavailable
from whisper_api.jobs.progress import Progress
from whisper_api.jobs.supervision import DecoderWatchdog, restart_until_up

log = logging.getLogger(__name__)

CRASHED_TWICE = "the decoder crashed twice on this file"
INTERRUPTED_TWICE = "decoding this file was interrupted twice by a stop of the server"
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


class TaskTracker:
    def __init__(
        self,
        store: JobStore,
        decoder: DecoderClient,
        decoder_start_timeout_s: float,
        watchdog_s: float,
        on_change: Callable[[Job, bool], None] = lambda job, progressed: None,
        on_cancelled: Callable[[str], None] = lambda task_id: None,
    ) -> None:
        self.store = store
        self.decoder = decoder
        self._start_timeout_s = decoder_start_timeout_s
        # Called on the loop thread whenever a job starts or ends, and (progressed=True) progresses.
        self._on_change = on_change
        # Called when a cancelled job is gone, so that its watchers stop waiting.
        self._on_cancelled = on_cancelled
        # The job the decoder is decoding, as it was when it started.
        self._running: Job | None = None
        self._progress: dict[str, Progress] = {}
        self._end_waiters: dict[str, list[asyncio.Future[Job | None]]] = {}
        self._detections: dict[str, asyncio.Future[tuple[str, float]]] = {}
        # Pending jobs in upload order, and which of them the current decoder has been sent.
        self._waiting: OrderedDict[str, SubmitTask] = OrderedDict()
        self._sent: set[str] = set()
        self._work: asyncio.Queue[_Work] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._restarter: asyncio.Task[None] | None = None
        self.restarts = 0
        self.watchdog = DecoderWatchdog(decoder, self._has_work, watchdog_s)
        self._closing = False

    @property
    def restarting(self) -> bool:
        return self._restarter is not None and not self._restarter.done()

    async def start(self, upload_dir: Path) -> None:
        """Start the decoder and queue every unfinished job again, in upload order.

        Files in `upload_dir` that no unfinished job needs (uploads cut off by a crash, audio
        of jobs that ended just before one) are deleted first.
        """
        needed = {job.audio_path.name for job in await self.store.unfinished()}
        await asyncio.to_thread(_remove_files_except, upload_dir, needed)
        await self.decoder.start(self._start_timeout_s)
        await self._requeue_unfinished()
        self._consumer = asyncio.create_task(self._consume(), name="job-tracker")
        self.watchdog.start()

    async def close(self) -> None:
        """Apply all work still queued (the last task's result included), then stop.

        Work the store still refuses then is given up: what it would have recorded stays pending
        in the store, and the next start decodes it again."""
        self._closing = True
        await self.watchdog.close()
        if self._restarter is not None:
            self._restarter.cancel()
        if self._consumer is not None:
            self._work.put_nowait(None)
            await self._consumer

    def on_decoder_event(self, event: DecoderEvent) -> None:
        if isinstance(event, TaskProgress):
            self._record_progress(event)
        elif isinstance(event, LanguageDetected):
            self._answer_detection(event.task_id, (event.language, event.probability))
        elif isinstance(event, TaskFailed) and event.task_id in self._detections:
            self._answer_detection(event.task_id, RuntimeError(event.reason))
        else:
            self._work.put_nowait(event)

    def _record_progress(self, event: TaskProgress) -> None:
        """Progress is only shown, never stored: it is kept in memory and announced."""
        known = self._progress.get(event.task_id)
        started = known.started if known else time.monotonic()
        self._progress[event.task_id] = Progress(event.decoded_s, event.duration_s, started)
        if self._running is not None and self._running.task_id == event.task_id:
            self._on_change(self._running, True)

    def _answer_detection(self, task_id: str, answer: tuple[str, float] | Exception) -> None:
        future = self._detections.get(task_id)
        if future is None or future.done():
            return
        if isinstance(answer, Exception):
            future.set_exception(answer)
        else:
            future.set_result(answer)

    async def submit(self, job: Job) -> None:
        await self.store.add(job)
        self._waiting[job.task_id] = _submission(job)
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
        self._detections[task_id] = answer
        try:
            self.decoder.send(DetectLanguage(task_id, audio_path, audio_format))
            return await answer
        finally:
            self._detections.pop(task_id, None)

    def progress(self, task_id: str) -> Progress | None:
        return self._progress.get(task_id)

    def position(self, job: Job) -> int | None:
        """0-based place in the queue of a pending job (0 runs next), None otherwise."""
        if job.status is not JobStatus.PENDING or job.task_id not in self._waiting:
            return None
        return list(self._waiting).index(job.task_id)

    def waiting_count(self) -> int:
        return len(self._waiting)

    def waiting_ids(self) -> list[str]:
        return list(self._waiting)

    def _has_work(self) -> bool:
        """Whether the decoder holds something of ours: a task decoding, queued, or a detection."""
        return self._running is not None or bool(self._sent) or bool(self._detections)

    def _send_waiting(self) -> None:
        """Send the decoder every waiting job it has not been sent, in order."""
        if not self.decoder.running:
            return  # the restart sends them
        for task_id, submission in self._waiting.items():
            if task_id in self._sent:
                continue
            try:
                self.decoder.send(submission)
            except DecoderUnavailable:
                return  # it just died: the next decoder is sent the queue
            self._sent.add(task_id)

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
        self._waiting.pop(event.task_id, None)
        self._sent.discard(event.task_id)
        self._progress[event.task_id] = Progress(0.0, 0.0, time.monotonic())
        job = await self.store.get(event.task_id)
        if job is not None:
            job.status, job.started_at = JobStatus.PROCESSING, event.started_at
            job.target_model_size = event.target_model_size
            job.attempts += 1
            await self.store.save(job)
            self._running = job
            self._on_change(job, False)

    async def _ended(self, event: TaskFinished | TaskFailed | TaskCancelled) -> None:
        self._running = None
        self._progress.pop(event.task_id, None)
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
        self._on_change(job, False)
        self._wake_end_waiters(job.task_id, job)

    async def _drop_cancelled(self, job: Job) -> None:
        await self.store.remove(job)
        log.info("task %s was cancelled while decoding; it is gone", job.task_id)
        self._wake_end_waiters(job.task_id, None)
        self._on_cancelled(job.task_id)

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
        self._waiting.pop(task_id, None)
        if task_id in self._sent:
            self._sent.discard(task_id)
            # A decoder that is gone took its queue along; a new one is sent only what waits.
            with contextlib.suppress(DecoderUnavailable):
                self.decoder.send(CancelTask(task_id))
        await self.store.remove(job)
        self._wake_end_waiters(task_id, None)
        if not job.done:
            self._on_cancelled(task_id)
        return CancelOutcome.DELETED if job.done else CancelOutcome.CANCELLED

    def _stop_by_force(self, task_id: str) -> None:
        """A cancelled task that did not stop between windows (a long ffmpeg run, say)."""
        if self._running is not None and self._running.task_id == task_id:
            log.warning("cancelled task %s is still decoding: restarting the decoder", task_id)
            self.decoder.kill()

    async def _requeue_unfinished(self) -> None:
        self._waiting.clear()
        self._sent.clear()
        for job in await self.store.unfinished():
            if job.cancel_requested:
                # Cancelled while it decoded, and the decoder or the server went down meanwhile.
                await self._drop_cancelled(job)
                continue
            if job.status is JobStatus.PROCESSING and job.attempts >= 2:
                # Retried once already: a file that takes the server down must not do so for ever.
                await self._fail(job, INTERRUPTED_TWICE)
                continue
            if job.status is JobStatus.PROCESSING:
                job.status = JobStatus.PENDING
                await self.store.save(job)
            self._waiting[job.task_id] = _submission(job)
        if self._waiting:
            log.info("queueing %d unfinished tasks again", len(self._waiting))
        self._send_waiting()

    async def _decoder_died(self, exited: DecoderExited) -> None:
        if exited.pid != self.decoder.last_pid:
            return  # a decoder that never came up; the restart in progress handles it
        log.error("the decoder process %s died (exit code %s)", exited.pid, exited.exitcode)
        for detection in self._detections.values():
            if not detection.done():
                detection.set_exception(DecoderUnavailable("the decoder crashed"))
        if self._running is not None:
            # Read again: a cancellation may have changed or deleted it meanwhile.
            job = await self.store.get(self._running.task_id)
            if job is not None and job.cancel_requested:
                await self._drop_cancelled(job)
            elif job is not None and job.attempts >= 2:
                await self._fail(job, CRASHED_TWICE)
        # Only once the store took it: where it did not, this is tried again as it was.
        self._running = None
        if not self.restarting:
            self._restarter = asyncio.create_task(self._restart(), name="decoder-restart")

    async def _fail(self, job: Job, reason: str) -> None:
        job.status, job.error, job.finished_at = JobStatus.FAILED, reason, time.time()
        await self._store_end(job)
        log.error("task %s failed: %s", job.task_id, reason)

    async def _restart(self) -> None:
        await restart_until_up(self.decoder, self._start_timeout_s)
        self.restarts += 1
        log.info("decoder restarted (pid %s)", self.decoder.pid)
        self._work.put_nowait(_Requeue())


def _remove_files_except(directory: Path, keep: set[str]) -> None:
    for path in directory.iterdir():
        if path.name not in keep:
            log.info("removing orphaned upload %s", path.name)
            path.unlink(missing_ok=True)


def _submission(job: Job) -> SubmitTask:
    return SubmitTask(
        job.task_id, str(job.audio_path), job.task_type, job.language, job.options, job.audio_format
    )
