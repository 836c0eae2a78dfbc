"""The tracker's job transitions, its pull scheduling over a pool of decoders and its use of the
supervision rules, against the in-memory store and scripted decoder clients: no process, no
disk but the uploads' files."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from decoder.wire.protocol import (
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
from decoder.wire.transcript import DecodeRun, Segment, Transcript
from tests.unit.whisper_api.jobs.scripted_decoder import ScriptedDecoder
from whisper_api.jobs.dispatch.decoder_client import DecoderEvent, DecoderExited
from whisper_api.jobs.dispatch.placement import Placement
from whisper_api.jobs.dispatch.pool import DecoderPool, DecoderSlot
from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.dispatch.supervision import CRASHED_TWICE, INTERRUPTED_TWICE, DecoderSupervisor
from whisper_api.jobs.errors import DetectionFailed
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.store.memory import MemoryJobStore
from whisper_api.jobs.tracker.task_tracker import TaskTracker
from whisper_api.jobs.tracker.tracking import CancelOutcome

# A sanity bound for in-process steps, which take microseconds; generous for a busy machine.
DEADLINE_S = 20.0


@dataclass
class Listener:
    changes: list[tuple[str, JobStatus, bool]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    decoder_events: list[tuple[int, DecoderEvent]] = field(default_factory=list)

    def job_changed(self, job: Job, progressed: bool) -> None:
        self.changes.append((job.task_id, job.status, progressed))

    def job_cancelled(self, task_id: str) -> None:
        self.cancelled.append(task_id)

    def decoder_changed(self, slot: DecoderSlot, event: DecoderEvent) -> None:
        self.decoder_events.append((slot.index, event))

    def job_seen(self, job: Job, progressed: bool) -> None:
        raise AssertionError("a tracker without a shared queue hears of no other host's jobs")

    def watches(self, task_id: str) -> bool:
        raise AssertionError("a tracker without a shared queue hears of no other host's progress")

    def queue_moved(self) -> None:
        raise AssertionError("a tracker without a shared queue hears of no other host's queue")


def scripted_pool(queue: JobQueue, count: int, sleep: Callable[[float], Awaitable[None]]) -> DecoderPool:
    return DecoderPool(
        [
            DecoderSlot(
                Placement(index, None, count),
                DecoderSupervisor(
                    ScriptedDecoder(), 5.0, 60.0, functools.partial(queue.busy, index), sleep=sleep
                ),
            )
            for index in range(count)
        ]
    )


@dataclass
class Rig:
    tmp_path: Path
    store: MemoryJobStore
    pool: DecoderPool
    queue: JobQueue
    tracker: TaskTracker
    listener: Listener
    # The backoff delays the supervisor waited, in order (the test's sleep returns at once).
    delays: list[float]

    def job(self, letter: str) -> Job:
        audio = self.tmp_path / "uploads" / (letter * 32)
        audio.write_bytes(b"audio")
        return Job(letter * 32, "transcribe", None, audio, f"{letter}.wav", time.time())

    async def submit(self, *letters: str) -> list[Job]:
        jobs = [self.job(letter) for letter in letters]
        for job in jobs:
            await self.tracker.submit(job)
        return jobs

    async def stored(self, task_id: str) -> Job | None:
        return await self.store.get(task_id)

    async def until(self, condition: Callable[[], Awaitable[bool]], what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not await condition():
            assert time.monotonic() < deadline, f"not within {DEADLINE_S} s: {what}"
            await asyncio.sleep(0.002)

    async def status_becomes(self, task_id: str, status: JobStatus | None) -> None:
        async def reached() -> bool:
            job = await self.stored(task_id)
            return (job.status if job else None) is status

        await self.until(reached, f"{task_id[:4]} becomes {status}")

    @property
    def decoder(self) -> ScriptedDecoder:
        return self.decoders[0]

    @property
    def decoders(self) -> list[ScriptedDecoder]:
        return [slot.decoder for slot in self.pool.slots]  # type: ignore[misc]

    @property
    def supervisor(self) -> DecoderSupervisor:
        return self.pool.slots[0].supervisor

    def submitted(self, decoder: int = 0) -> list[str]:
        """What the decoder (since its latest start) was handed, in order."""
        return [m.task_id for m in self.decoders[decoder].sent if isinstance(m, SubmitTask)]


def scenario(
    body: Callable[[Rig], Coroutine[Any, Any, None]], fail_restarts: int = 0, decoders: int = 1
) -> Callable[[Path], None]:
    """A test that runs `body` against a started tracker, and closes it afterwards."""

    def test(tmp_path: Path) -> None:
        async def run() -> None:
            (tmp_path / "uploads").mkdir()
            delays: list[float] = []

            async def sleep(delay: float) -> None:
                delays.append(delay)
                await asyncio.sleep(0)

            store, queue, listener = MemoryJobStore(), JobQueue(), Listener()
            pool = scripted_pool(queue, decoders, sleep)
            tracker = TaskTracker(store, pool, queue, listener)
            await tracker.start(tmp_path / "uploads")
            pool.slots[0].decoder.fail_starts = fail_restarts  # type: ignore[attr-defined]
            try:
                await body(Rig(tmp_path, store, pool, queue, tracker, listener, delays))
            finally:
                await tracker.close()

        asyncio.run(run())

    return test


def finished(task_id: str, text: str = "hello") -> TaskFinished:
    now = time.time()
    transcript = Transcript(text, "en", 1.5, (Segment(0.0, 1.5, text),))
    return TaskFinished(task_id, transcript, DecodeRun("tiny.en", "tiny.en", "cpu", now - 1, now))


async def _order_and_positions(rig: Rig) -> None:
    a, b, c = await rig.submit("a", "b", "c")
    # The decoder pulls: it holds one job at a time; the rest wait in the front end.
    assert rig.submitted() == [a.task_id]
    assert [rig.queue.position(job) for job in (a, b, c)] == [0, 1, 2]
    rig.decoder.report(TaskStarted(a.task_id, "tiny.en", time.time()))
    await rig.status_becomes(a.task_id, JobStatus.PROCESSING)
    started = await rig.stored(a.task_id)
    assert started is not None and started.attempts == 1
    assert rig.queue.position(started) is None
    assert [rig.queue.position(job) for job in (b, c)] == [0, 1]
    rig.decoder.report(TaskProgress(a.task_id, 0.75, 1.5))
    progress = rig.queue.progress(a.task_id)
    assert progress is not None and progress.fraction == 0.5
    rig.decoder.report(finished(a.task_id))
    await rig.status_becomes(a.task_id, JobStatus.FINISHED)
    done = await rig.stored(a.task_id)
    assert done is not None and done.result is not None and done.result.text == "hello"
    assert (done.used_device, done.duration_s) == ("cpu", 1.5)
    assert not a.audio_path.exists() and rig.queue.progress(a.task_id) is None
    assert rig.submitted() == [a.task_id, b.task_id]
    assert rig.listener.changes == [
        (a.task_id, JobStatus.PROCESSING, False),
        (a.task_id, JobStatus.PROCESSING, True),
        (a.task_id, JobStatus.FINISHED, False),
    ]


test_jobs_go_to_the_decoder_in_order_and_positions_follow = scenario(_order_and_positions)


async def _cancel_waiting(rig: Rig) -> None:
    a, b, c = await rig.submit("a", "b", "c")
    # c waits in the front end: the decoder never heard of it.
    assert await rig.tracker.cancel(c.task_id) is CancelOutcome.CANCELLED
    assert not any(isinstance(m, CancelTask) for m in rig.decoder.sent)
    assert await rig.stored(c.task_id) is None and not c.audio_path.exists()
    assert rig.listener.cancelled == [c.task_id] and rig.queue.ids() == [a.task_id, b.task_id]
    assert await rig.tracker.cancel(c.task_id) is None
    # a was handed to the decoder: it is told, and is free for b once it says a is out.
    assert await rig.tracker.cancel(a.task_id) is CancelOutcome.CANCELLED
    assert CancelTask(a.task_id) in rig.decoder.sent and rig.submitted() == [a.task_id]
    rig.decoder.report(TaskCancelled(a.task_id))
    await rig.until(lambda: _true(rig.submitted() == [a.task_id, b.task_id]), "b is handed over")
    assert await rig.stored(a.task_id) is None and rig.listener.cancelled == [c.task_id, a.task_id]


test_cancelling_a_waiting_job_deletes_it_and_tells_the_decoder_that_holds_it = scenario(_cancel_waiting)


async def _cancel_decoding(rig: Rig) -> None:
    (a,) = await rig.submit("a")
    rig.decoder.report(TaskStarted(a.task_id, "tiny.en", time.time()))
    await rig.status_becomes(a.task_id, JobStatus.PROCESSING)
    assert await rig.tracker.cancel(a.task_id) is CancelOutcome.CANCELLING
    marked = await rig.stored(a.task_id)
    assert marked is not None and marked.cancel_requested and CancelTask(a.task_id) in rig.decoder.sent
    rig.decoder.report(TaskCancelled(a.task_id))
    await rig.status_becomes(a.task_id, None)
    assert rig.listener.cancelled == [a.task_id] and not a.audio_path.exists()


test_cancelling_a_decoding_job_stops_it_then_deletes_it = scenario(_cancel_decoding)


async def _cancelled_result_is_dropped(rig: Rig) -> None:
    (a,) = await rig.submit("a")
    rig.decoder.report(TaskStarted(a.task_id, "tiny.en", time.time()))
    await rig.status_becomes(a.task_id, JobStatus.PROCESSING)
    assert await rig.tracker.cancel(a.task_id) is CancelOutcome.CANCELLING
    # The decoder finished before it read the CancelTask: the result is discarded.
    rig.decoder.report(finished(a.task_id))
    await rig.status_becomes(a.task_id, None)
    assert rig.listener.cancelled == [a.task_id]


test_a_result_that_arrives_after_a_cancel_is_discarded = scenario(_cancelled_result_is_dropped)


async def _cancel_ended(rig: Rig) -> None:
    a, b = await rig.submit("a", "b")
    rig.decoder.report(TaskStarted(a.task_id, "tiny.en", time.time()))
    rig.decoder.report(finished(a.task_id))
    await rig.until(lambda: _true(rig.submitted() == [a.task_id, b.task_id]), "b is handed over")
    rig.decoder.report(TaskStarted(b.task_id, "tiny.en", time.time()))
    rig.decoder.report(TaskFailed(b.task_id, "decoding failed: no audio", time.time()))
    await rig.status_becomes(b.task_id, JobStatus.FAILED)
    failed = await rig.stored(b.task_id)
    assert failed is not None and failed.error == "decoding failed: no audio"
    assert await rig.tracker.cancel(a.task_id) is CancelOutcome.DELETED
    assert await rig.tracker.cancel(b.task_id) is CancelOutcome.DELETED
    assert await rig.stored(a.task_id) is None and rig.listener.cancelled == []


test_cancelling_an_ended_job_deletes_it = scenario(_cancel_ended)


async def _crash_once_then_twice(rig: Rig) -> None:
    a, b = await rig.submit("a", "b")
    rig.decoder.report(TaskStarted(a.task_id, "tiny.en", time.time()))
    await rig.status_becomes(a.task_id, JobStatus.PROCESSING)
    rig.decoder.crash()
    # The crashed job waits again first in line, and the new decoder is handed it.
    await rig.until(lambda: _true(rig.decoder.starts == 2 and len(rig.submitted()) == 1), "retry")
    assert rig.submitted() == [a.task_id] and rig.supervisor.restarts == 1
    retried = await rig.stored(a.task_id)
    assert retried is not None and (retried.status, retried.attempts) == (JobStatus.PENDING, 1)
    assert [rig.queue.position(job) for job in (a, b)] == [0, 1]
    rig.decoder.report(TaskStarted(a.task_id, "tiny.en", time.time()))
    await rig.until(lambda: _attempts(rig, a.task_id, 2), "the second attempt")
    rig.decoder.crash()
    await rig.status_becomes(a.task_id, JobStatus.FAILED)
    ended = await rig.stored(a.task_id)
    assert ended is not None and ended.error == CRASHED_TWICE
    await rig.until(lambda: _true(rig.decoder.starts == 3 and rig.submitted() == [b.task_id]), "b next")


test_a_crash_retries_the_job_once_and_a_second_one_fails_it = scenario(_crash_once_then_twice)


async def _backoff(rig: Rig) -> None:
    rig.decoder.crash()
    await rig.until(lambda: _true(rig.decoder.running), "a decoder that comes up")
    # Three decoders died at once (no start): the waits double from one second.
    assert rig.delays == [1.0, 2.0, 4.0, 8.0]
    assert (rig.decoder.starts, rig.supervisor.restarts) == (5, 1)


test_restarts_back_off_while_decoders_keep_failing = scenario(_backoff, fail_restarts=3)


async def _requeue_drops_cancelled(rig: Rig) -> None:
    a, b, c = await rig.submit("a", "b", "c")
    rig.decoder.report(TaskStarted(a.task_id, "tiny.en", time.time()))
    await rig.status_becomes(a.task_id, JobStatus.PROCESSING)
    assert await rig.tracker.cancel(a.task_id) is CancelOutcome.CANCELLING
    rig.decoder.crash()
    await rig.status_becomes(a.task_id, None)
    await rig.until(lambda: _true(rig.submitted() == [b.task_id]), "b next")
    assert rig.listener.cancelled == [a.task_id] and rig.queue.ids() == [b.task_id, c.task_id]


test_a_crash_of_a_cancelled_job_drops_it_and_the_rest_go_on_in_order = scenario(_requeue_drops_cancelled)


async def _store_refuses(rig: Rig) -> None:
    (a,) = await rig.submit("a")
    rig.decoder.report(TaskStarted(a.task_id, "tiny.en", time.time()))
    await rig.status_becomes(a.task_id, JobStatus.PROCESSING)
    rig.decoder.report(TaskProgress(a.task_id, 0.75, 1.5))
    rig.store.refuse_writes = True
    rig.decoder.report(finished(a.task_id))
    await asyncio.sleep(0.2)
    still = await rig.stored(a.task_id)
    assert still is not None and still.status is JobStatus.PROCESSING
    # Its decoder is free, but what it decoded still shows while the end waits for the store.
    progress = rig.queue.progress(a.task_id)
    assert rig.queue.is_free(0) and progress is not None and progress.fraction == 0.5
    rig.store.refuse_writes = False
    await rig.status_becomes(a.task_id, JobStatus.FINISHED)
    assert rig.queue.progress(a.task_id) is None


test_a_result_the_store_refuses_is_applied_once_it_takes_writes = scenario(_store_refuses)


async def _crash_while_store_refuses(rig: Rig) -> None:
    (a,) = await rig.submit("a")
    rig.decoder.report(TaskStarted(a.task_id, "tiny.en", time.time()))
    await rig.status_becomes(a.task_id, JobStatus.PROCESSING)
    rig.store.refuse_writes = True
    rig.decoder.crash()
    # The decoder comes back at once; the job's requeue waits for the store.
    await rig.until(lambda: _true(rig.decoder.starts == 2 and rig.decoder.running), "a new decoder")
    still = await rig.stored(a.task_id)
    assert still is not None and still.status is JobStatus.PROCESSING and rig.submitted() == []
    rig.store.refuse_writes = False
    await rig.until(lambda: _true(rig.submitted() == [a.task_id]), "the retry")


test_a_decoder_dying_while_the_store_refuses_comes_back_at_once = scenario(_crash_while_store_refuses)


async def _detection(rig: Rig) -> None:
    asking = asyncio.create_task(rig.tracker.detect_language(DetectLanguage("d" * 32, "/audio", "wav")))
    await rig.until(lambda: _true(any(isinstance(m, DetectLanguage) for m in rig.decoder.sent)), "asked")
    assert rig.queue.busy(0)
    answer = LanguageDetected("d" * 32, "de", 0.875, (("de", 0.875), ("en", 0.1)), 3)
    rig.decoder.report(answer)
    assert await asyncio.wait_for(asking, DEADLINE_S) == answer
    failing = asyncio.create_task(rig.tracker.detect_language(DetectLanguage("e" * 32, "/audio", "wav")))
    await rig.until(lambda: _true(len(rig.decoder.sent) == 2), "asked again")
    rig.decoder.report(TaskFailed("e" * 32, "decoding failed: the file is damaged", time.time()))
    with pytest.raises(DetectionFailed, match="language detection failed: decoding failed"):
        await asyncio.wait_for(failing, DEADLINE_S)
    crashing = asyncio.create_task(rig.tracker.detect_language(DetectLanguage("f" * 32, "/audio", "wav")))
    await rig.until(lambda: _true(len(rig.decoder.sent) == 3), "asked a third time")
    rig.decoder.crash()
    with pytest.raises(DetectionFailed, match="the decoder crashed"):
        await asyncio.wait_for(crashing, DEADLINE_S)
    assert not rig.queue.detections
    assert any(isinstance(event, DecoderExited) for _slot, event in rig.listener.decoder_events)


test_language_detection_answers_and_fails_with_its_own_error = scenario(_detection)


async def _pull(rig: Rig) -> None:
    long, *short = await rig.submit("a", "b", "c", "d")
    # Each decoder holds one job; the long one does not hold up the short ones.
    assert (rig.submitted(0), rig.submitted(1)) == ([long.task_id], [short[0].task_id])
    rig.decoders[0].report(TaskStarted(long.task_id, "tiny.en", time.time()))
    for done, job in enumerate(short):
        handed = functools.partial(lambda task_id: _true(task_id in rig.submitted(1)), job.task_id)
        await rig.until(handed, "handed to the free decoder")
        rig.decoders[1].report(TaskStarted(job.task_id, "tiny.en", time.time()))
        await rig.status_becomes(job.task_id, JobStatus.PROCESSING)
        # The others keep their order, and their positions count from the front of the queue.
        later = short[done + 1 :]
        assert rig.queue.ids() == [job.task_id for job in later]
        assert [rig.queue.position(job) for job in later] == list(range(len(later)))
        rig.decoders[1].report(finished(job.task_id))
        await rig.status_becomes(job.task_id, JobStatus.FINISHED)
    assert rig.submitted(1) == [job.task_id for job in short] and rig.submitted(0) == [long.task_id]
    running = await rig.stored(long.task_id)
    assert running is not None and running.status is JobStatus.PROCESSING
    started = [(slot, e.task_id) for slot, e in rig.listener.decoder_events if isinstance(e, TaskStarted)]
    assert started == [(0, long.task_id), *((1, job.task_id) for job in short)]


test_free_decoders_pull_jobs_in_arrival_order = scenario(_pull, decoders=2)


async def _one_dies(rig: Rig) -> None:
    a, b, c = await rig.submit("a", "b", "c")
    for index, job in ((0, a), (1, b)):
        rig.decoders[index].report(TaskStarted(job.task_id, "tiny.en", time.time()))
        await rig.status_becomes(job.task_id, JobStatus.PROCESSING)
    rig.decoders[0].crash()
    # a waits again before c, for whichever decoder is free first: the restarted one here.
    await rig.until(lambda: _true(rig.decoders[0].starts == 2 and rig.submitted(0) == [a.task_id]), "retry")
    assert rig.queue.ids() == [a.task_id, c.task_id] and rig.decoders[1].starts == 1
    assert [slot.supervisor.restarts for slot in rig.pool.slots] == [1, 0]
    rig.decoders[1].report(finished(b.task_id))
    await rig.status_becomes(b.task_id, JobStatus.FINISHED)
    await rig.until(lambda: _true(rig.submitted(1) == [b.task_id, c.task_id]), "c on the other decoder")
    rig.decoders[0].report(TaskStarted(a.task_id, "tiny.en", time.time()))
    await rig.until(lambda: _attempts(rig, a.task_id, 2), "the second attempt")
    rig.decoders[0].report(finished(a.task_id))
    await rig.status_becomes(a.task_id, JobStatus.FINISHED)


test_a_dead_decoder_restarts_alone_and_its_job_goes_first = scenario(_one_dies, decoders=2)


async def _detect_on_free(rig: Rig) -> None:
    a, b, c = await rig.submit("a", "b", "c")
    asking = asyncio.create_task(rig.tracker.detect_language(DetectLanguage("d" * 32, "/audio", "wav")))
    await rig.until(lambda: _true("d" * 32 in rig.queue.detections), "the detection waits")
    for index, job in ((0, a), (1, b)):
        rig.decoders[index].report(TaskStarted(job.task_id, "tiny.en", time.time()))
    rig.decoders[1].report(finished(b.task_id))
    # The first decoder to be free answers the detection before c, which waited longer.
    await rig.until(
        lambda: _true(any(isinstance(m, DetectLanguage) for m in rig.decoders[1].sent)), "handed over"
    )
    assert rig.submitted(1) == [b.task_id] and rig.queue.ids() == [c.task_id]
    rig.decoders[0].report(finished(a.task_id))
    await rig.until(lambda: _true(rig.submitted(0) == [a.task_id, c.task_id]), "c on decoder 0")
    rig.decoders[1].report(LanguageDetected("d" * 32, "de", 0.875))
    assert (await asyncio.wait_for(asking, DEADLINE_S)).language == "de"
    assert rig.queue.is_free(1) and not rig.queue.detections


test_a_detection_goes_to_a_free_decoder_before_waiting_jobs = scenario(_detect_on_free, decoders=2)


def test_unfinished_jobs_from_a_stopped_server_meet_their_fates(tmp_path: Path) -> None:
    async def run() -> None:
        uploads = tmp_path / "uploads"
        uploads.mkdir()
        store = MemoryJobStore()
        fates = {"a": (JobStatus.PROCESSING, 2, False), "b": (JobStatus.PROCESSING, 1, False)}
        fates |= {"c": (JobStatus.PENDING, 0, False), "d": (JobStatus.PROCESSING, 1, True)}
        for letter, (status, attempts, cancelled) in fates.items():
            audio = uploads / (letter * 32)
            audio.write_bytes(b"audio")
            job = Job(letter * 32, "transcribe", None, audio, "x.wav", time.time(), status=status)
            job.attempts, job.cancel_requested = attempts, cancelled
            await store.add(job)
        (uploads / "orphan").write_bytes(b"cut off")
        queue = JobQueue()
        pool = scripted_pool(queue, 1, asyncio.sleep)
        tracker = TaskTracker(store, pool, queue, Listener())
        await tracker.start(uploads)
        decoder: ScriptedDecoder = pool.slots[0].decoder  # type: ignore[assignment]
        try:
            interrupted, retried = await store.get("a" * 32), await store.get("b" * 32)
            assert interrupted is not None and interrupted.error == INTERRUPTED_TWICE
            assert retried is not None and retried.status is JobStatus.PENDING
            assert await store.get("d" * 32) is None and not (uploads / "orphan").exists()
            assert [m.task_id for m in decoder.sent if isinstance(m, SubmitTask)] == ["b" * 32]
            assert queue.ids() == ["b" * 32, "c" * 32]
        finally:
            await tracker.close()

    asyncio.run(run())


async def _true(value: bool) -> bool:
    return value


async def _attempts(rig: Rig, task_id: str, attempts: int) -> bool:
    job = await rig.stored(task_id)
    return job is not None and job.attempts == attempts
