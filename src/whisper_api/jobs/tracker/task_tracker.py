"""Moves jobs through their life: hands them to the host's decoders, applies the decoders'
reports and the clients' cancellations to the store, and applies the supervisor's rules
(whisper_api.jobs.dispatch.supervision) when a decoder dies.

One consumer task is the only writer of existing jobs: decoder events, cancellations and
re-queueing after a restart are applied one at a time, in arrival order, so no two updates
of a job can interleave. Where the store cannot write (a full or read-only disk), the same
piece of work is tried again, with a backoff, until it applies: nothing a decoder reported
is dropped, and every step is written so that applying it again does no harm.

Decoders pull (whisper_api.jobs.dispatch.queue): a decoder is handed the next job, in upload order, only
once it is free. One that dies is restarted alone; the job it held waits again, first in line,
for whichever decoder is free next. With a store that several hosts share, a free decoder's
next job is claimed from the database instead, and the hosts tell each other what changed
(whisper_api.jobs.tracker.sharing).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from decoder.wire.protocol import (
    DetectLanguage,
    LanguageDetected,
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    TaskProgress,
    TaskStarted,
)
from whisper_api.jobs.dispatch.decoder_client import DecoderEvent, DecoderExited
from whisper_api.jobs.dispatch.pool import DecoderPool, DecoderSlot
from whisper_api.jobs.dispatch.queue import JobQueue, submission
from whisper_api.jobs.errors import DecoderUnavailable, DetectionFailed, LeaseLost, StoreUnavailable
from whisper_api.jobs.job import Job, JobStatus, JobStore, remove_files_except
from whisper_api.jobs.tracker.cancels import Cancels
from whisper_api.jobs.tracker.claims import Claims
from whisper_api.jobs.tracker.endings import Endings
from whisper_api.jobs.tracker.head_start import HeadStarts
from whisper_api.jobs.tracker.other_hosts import OtherHosts
from whisper_api.jobs.tracker.recovery import Recovery
from whisper_api.jobs.tracker.sharing import Kind, News, SharedQueue
from whisper_api.jobs.tracker.tracking import CancelOutcome, EndWaiters, JobListener

log = logging.getLogger(__name__)

# Backoff between tries of work the store could not apply.
STORE_RETRY_FIRST_S = 0.5
STORE_RETRY_MAX_S = 10.0


@dataclass
class _Cancel:
    task_id: str
    outcome: asyncio.Future[CancelOutcome | None] = field(default_factory=asyncio.Future)


@dataclass(frozen=True)
class _Died:
    slot: DecoderSlot
    exited: DecoderExited


@dataclass(frozen=True)
class _Retry:
    """The job a dead decoder held meets its fate."""

    task_id: str


class _SlotUp:
    """A restarted decoder is up: hand it work."""


class _Claim:
    """Free decoders want jobs from the shared queue."""


@dataclass(frozen=True)
class _Heard:
    news: News


_Step = DecoderEvent | _Cancel | _Died | _Retry | _SlotUp | _Claim | _Heard
_Work = _Step | None


class TaskTracker:
    def __init__(
        self,
        store: JobStore,
        pool: DecoderPool,
        queue: JobQueue,
        listener: JobListener,
        shared: SharedQueue | None = None,
    ) -> None:
        self.store = store
        self.pool = pool
        self.queue = queue
        self.shared = shared
        self._listener = listener
        self._waiters = EndWaiters()
        self._work: asyncio.Queue[_Work] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._closing = False
        # The server stops: decoders finish what they hold and are handed nothing more.
        self._draining = False
        # Its parts, each with a step of a job's life.
        self.head_starts = HeadStarts(
            queue, self._free_slots, self._stop_soon, self._work.put_nowait, enabled=shared is None
        )
        self._endings = Endings(store, listener, self._waiters, self._tell)
        self._cancels = Cancels(
            store, queue, pool, listener, self._waiters, self._tell, refused=self.head_starts.refused
        )
        self._recovery = Recovery(store, queue, shared, self._endings, self._dispatch)
        self._other_hosts = OtherHosts(store, queue, listener, self._waiters, self._dispatch, self._stop_soon)
        self._claims: Claims | None = None
        if shared is not None:
            request = functools.partial(self._work.put_nowait, _Claim())
            self._claims = Claims(shared, store, queue, self._endings, self._free_slots, request)

    async def start(self, upload_dir: Path) -> None:
        """Start the decoders and queue every unfinished job again, in upload order.

        Files in `upload_dir` that no unfinished job needs (uploads cut off by a crash, audio
        of jobs that ended just before one) are deleted first. With a shared queue, the other
        hosts' uploads arrive there too and the leases decide what is unfinished, so neither
        is done; unless the uploads are kept in the database, whence this host's folder holds
        only copies of its own.
        """
        if self.shared is None:
            needed = {job.audio_path.name for job in await self.store.unfinished()}
            await asyncio.to_thread(remove_files_except, upload_dir, needed)
        elif self.shared.store.media is not None:
            await asyncio.to_thread(remove_files_except, upload_dir, set())
        await self.pool.start(self.on_decoder_event)
        if self.shared is None:
            await self._recovery.requeue_unfinished()
        self._consumer = asyncio.create_task(self._consume(), name="job-tracker")
        if self.shared is not None:
            await self.shared.start(lambda news: self._work.put_nowait(_Heard(news)))
            self._dispatch()

    async def close(self) -> None:
        """Apply all work still queued (the last task's result included), then stop.

        Work the store still refuses then is given up: what it would have recorded stays pending
        in the store, and the next start decodes it again."""
        self._closing = True
        await self.pool.close()
        if self._consumer is not None:
            self._work.put_nowait(None)
            await self._consumer
        if self.shared is not None:
            await self.shared.close()

    def drain(self) -> None:
        """Hand the decoders nothing more, and claim nothing more for them (the server stops)."""
        self._draining = True

    def on_decoder_event(self, slot: DecoderSlot, event: DecoderEvent) -> None:
        if self.head_starts.held_back(slot, event):
            return
        if isinstance(event, TaskProgress):
            # Progress is shown; several hosts also find it in the store (sharing.py).
            running = self.queue.record_progress(event, time.monotonic())
            if running is not None:
                self._listener.job_changed(running, True)
            if self.shared is not None:
                self.shared.tell(
                    News(Kind.PROGRESS, event.task_id, event.decoded_s, event.duration_s, event.stage)
                )
        elif isinstance(event, LanguageDetected):
            self._answer_detection(event.task_id, event)
        elif isinstance(event, TaskFailed) and event.task_id in self.queue.detections:
            failed = DetectionFailed(f"language detection failed: {event.reason}")
            self._answer_detection(event.task_id, failed)
        elif isinstance(event, DecoderExited):
            self._work.put_nowait(_Died(slot, event))
        elif isinstance(event, TaskStarted | TaskFinished | TaskFailed | TaskCancelled):
            self._work.put_nowait(event)
        self._listener.decoder_changed(slot, event)

    def _answer_detection(self, task_id: str, answer: LanguageDetected | Exception) -> None:
        future = self.queue.detections.get(task_id)
        self.queue.ended(task_id)
        self._dispatch()
        if future is None or future.done():
            return
        if isinstance(answer, Exception):
            future.set_exception(answer)
        else:
            future.set_result(answer)

    async def submit(self, job: Job) -> None:
        await self.store.add(job)
        if self.shared is not None:
            # It waits in the database's queue, for whichever host claims it.
            self.shared.standing.added()
            self.shared.tell(News(Kind.QUEUE))
        else:
            # It waits, like any job handed to a decoder, until that decoder says it started.
            self.queue.add(submission(job), job.uploaded_at)
            for slot, event in self.head_starts.passed(job.task_id):
                self.on_decoder_event(slot, event)
        self._dispatch()

    async def cancel(self, task_id: str) -> CancelOutcome | None:
        """Cancel or delete a job; None if there is no such job (any more)."""
        request = _Cancel(task_id)
        self._work.put_nowait(request)
        return await request.outcome

    async def wait_for_end(self, task_id: str) -> Job | None:
        """The job once it has ended (None if it was cancelled or expired first)."""
        return await self._waiters.wait(task_id, self.store)

    async def detect_language(self, request: DetectLanguage) -> LanguageDetected:
        """Ask the next free decoder, before the jobs waiting, for the language of a file."""
        task_id = request.task_id
        answer: asyncio.Future[LanguageDetected] = asyncio.get_running_loop().create_future()
        self.queue.ask_detection(request, answer)
        self._dispatch()
        try:
            return await answer
        finally:
            self.queue.forget_detection(task_id)

    def _free_slots(self) -> list[DecoderSlot]:
        if self._draining:
            return []
        return [slot for slot in self.pool.slots if slot.takes_work and self.queue.is_free(slot.index)]

    def _dispatch(self) -> None:
        """Hand every free decoder the next piece of work, in order (with a shared queue, the
        detections here, and the jobs once claimed)."""
        free = self._free_slots()
        for index, slot in enumerate(free):
            ready = slot.decoder.ready
            assert ready is not None, "a slot that takes work has a decoder that is up"
            # What waits is shared out among the free decoders, not all batched onto the first.
            share = -(-self.queue.unheld() // (len(free) - index))
            work = self.queue.next_work(min(ready.batch_files, max(1, share)), ready.english_only)
            if self._claims is not None and not isinstance(work, DetectLanguage):
                self._claims.ask()
                return
            if work is None:
                return
            try:
                slot.decoder.send(work)
            except DecoderUnavailable:
                continue  # it just died: its restart asks for work again
            self.queue.hand(work, slot.index)

    async def _consume(self) -> None:
        while (work := await self._work.get()) is not None:
            try:
                await self._apply_until_stored(work)
            except LeaseLost as exc:
                log.warning("a result is not stored: %s", exc)
            except Exception:
                log.exception("could not apply %s", type(work).__name__)
                if isinstance(work, _Cancel) and not work.outcome.done():
                    work.outcome.set_result(None)

    async def _apply_until_stored(self, work: _Step) -> None:
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

    async def _apply(self, work: _Step) -> None:
        if isinstance(work, _Cancel):
            work.outcome.set_result(await self._cancels.cancel(work.task_id))
        elif isinstance(work, _SlotUp):
            self._dispatch()
        elif isinstance(work, _Claim):
            assert self._claims is not None
            await self._claims.claim()
        elif isinstance(work, _Heard):
            await self._other_hosts.heard(work.news)
        elif isinstance(work, _Died):
            await self._decoder_died(work.slot, work.exited)
        elif isinstance(work, _Retry):
            await self._recovery.retry_or_end(work.task_id)
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
            self._tell(News(Kind.JOB, job.task_id))

    async def _ended(self, event: TaskFinished | TaskFailed | TaskCancelled) -> None:
        # Its decoder takes the next job at once; its progress shows until its end is stored.
        self.queue.finishing(event.task_id)
        self._dispatch()
        try:
            await self._record_end(event)
        except StoreUnavailable:
            raise  # applied again once the store takes it
        except BaseException:
            self.queue.ended(event.task_id)
            raise
        self.queue.ended(event.task_id)

    async def _record_end(self, event: TaskFinished | TaskFailed | TaskCancelled) -> None:
        job = await self.store.get(event.task_id)
        if job is None:
            return
        if job.cancel_requested or isinstance(event, TaskCancelled):
            await self._endings.drop(job)
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
        await self._endings.record(job)

    def _stop_soon(self, task_id: str) -> None:
        self._cancels.stop_soon(task_id)

    def _tell(self, news: News) -> None:
        if self.shared is not None:
            self.shared.tell(news)

    async def _decoder_died(self, slot: DecoderSlot, exited: DecoderExited) -> None:
        if not slot.supervisor.is_current(exited):
            return  # a decoder that never came up; the restart in progress handles it
        log.error("decoder %d (pid %s) died (exit code %s)", slot.index, exited.pid, exited.exitcode)
        held = self.queue.held_by(slot.index)
        detection = self.queue.detections.get(held[0]) if held else None
        if detection is not None and not detection.done():
            detection.set_exception(DetectionFailed("language detection failed: the decoder crashed"))
        running = self.queue.running_in(slot.index)
        # The decoder comes back whatever the store does; its jobs' fate waits for the store.
        self.queue.release(slot.index)
        slot.supervisor.restart(lambda: self._work.put_nowait(_SlotUp()))
        for job in running:
            await self._apply_until_stored(_Retry(job.task_id))
        self._dispatch()
