"""The in-memory queue: order, positions, what each decoder slot holds, detections, progress."""

from __future__ import annotations

import asyncio
from pathlib import Path

from decoder.protocol import DetectLanguage, SubmitTask, TaskProgress
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.queue import JobQueue


def job(letter: str) -> Job:
    return Job(letter * 32, "transcribe", None, Path(f"/{letter}"), f"{letter}.wav", 0.0)


def submission(letter: str) -> SubmitTask:
    return SubmitTask(letter * 32, f"/{letter}", "transcribe", None)


def test_positions_follow_upload_order_and_what_leaves() -> None:
    queue = JobQueue()
    for uploaded_at, letter in enumerate("abc"):
        queue.add(submission(letter), float(uploaded_at))
    assert [queue.position(job(letter)) for letter in "abc"] == [0, 1, 2] and queue.count() == 3
    assert queue.drop("b" * 32) is None
    assert queue.ids() == ["a" * 32, "c" * 32] and queue.position(job("c")) == 1
    assert queue.position(job("b")) is None
    # A job that comes back (its decoder died) takes its upload place again.
    queue.add(submission("b"), 1.0)
    assert queue.ids() == ["a" * 32, "b" * 32, "c" * 32]


def test_each_slot_holds_one_job_and_gets_the_first_nobody_holds() -> None:
    queue = JobQueue()
    for uploaded_at, letter in enumerate("abc"):
        queue.add(submission(letter), float(uploaded_at))
    first = queue.next_work()
    assert first is not None and first.task_id == "a" * 32
    queue.hand(first, 0)
    second = queue.next_work()
    assert second is not None and second.task_id == "b" * 32
    queue.hand(second, 1)
    assert not queue.is_free(0) and queue.busy(1) and queue.slot_holding("b" * 32) == 1
    # Handed but not started: still waiting, at the front, and its slot holds it until it ends.
    assert queue.position(job("a")) == 0 and queue.drop("a" * 32) == 0 and queue.held_by(0) == "a" * 32
    queue.ended("a" * 32)
    assert queue.is_free(0) and queue.next_work() == submission("c")
    # A dead decoder's job, handed and not started, is free for the next decoder.
    queue.release(1)
    assert queue.is_free(1) and queue.next_work() == submission("b")


def test_detections_go_before_waiting_jobs() -> None:
    async def run() -> None:
        queue = JobQueue()
        queue.add(submission("a"), 0.0)
        answer: asyncio.Future[tuple[str, float]] = asyncio.get_running_loop().create_future()
        queue.ask_detection(DetectLanguage("d" * 32, "/d"), answer)
        detection = queue.next_work()
        assert detection == DetectLanguage("d" * 32, "/d")
        queue.hand(detection, 0)
        assert queue.next_work() == submission("a") and queue.held_by(0) == "d" * 32
        queue.forget_detection("d" * 32)
        assert not queue.detections

    asyncio.run(run())


def test_the_running_job_has_progress_and_no_position() -> None:
    queue = JobQueue()
    running = job("a")
    queue.add(submission("a"), 0.0)
    queue.hand(submission("a"), 3)
    queue.started(running, now=100.0)
    running.status = JobStatus.PROCESSING
    assert queue.position(running) is None and queue.running_in(3) is running
    assert queue.record_progress(TaskProgress("a" * 32, 3.0, 12.0), now=101.0) is running
    progress = queue.progress("a" * 32)
    assert progress is not None and (progress.fraction, progress.started) == (0.25, 100.0)
    assert queue.record_progress(TaskProgress("z" * 32, 1.0, 2.0), now=101.0) is None
    queue.ended("a" * 32)
    assert not queue.running and queue.progress("a" * 32) is None and queue.is_free(3)
