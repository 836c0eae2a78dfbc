"""The in-memory queue: order, positions, what the decoder was sent, progress, work in hand."""

from __future__ import annotations

from pathlib import Path

from decoder.protocol import SubmitTask, TaskProgress
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.queue import JobQueue


def job(letter: str) -> Job:
    return Job(letter * 32, "transcribe", None, Path(f"/{letter}"), f"{letter}.wav", 0.0)


def submission(letter: str) -> SubmitTask:
    return SubmitTask(letter * 32, f"/{letter}", "transcribe", None)


def test_positions_follow_upload_order_and_what_leaves() -> None:
    queue = JobQueue()
    for letter in "abc":
        queue.add(submission(letter))
    assert [queue.position(job(letter)) for letter in "abc"] == [0, 1, 2] and queue.count() == 3
    assert queue.drop("b" * 32) is False
    assert queue.ids() == ["a" * 32, "c" * 32] and queue.position(job("c")) == 1
    assert queue.position(job("b")) is None


def test_only_unsent_jobs_are_sent_and_a_new_decoder_starts_empty() -> None:
    queue = JobQueue()
    queue.add(submission("a"))
    queue.add(submission("b"))
    queue.mark_sent("a" * 32)
    assert [s.task_id for s in queue.unsent()] == ["b" * 32]
    assert queue.has_work() and queue.drop("a" * 32) is True
    queue.forget_decoder()
    assert queue.count() == 0 and queue.unsent() == [] and not queue.has_work()


def test_the_running_job_has_progress_and_no_position() -> None:
    queue = JobQueue()
    running = job("a")
    queue.add(submission("a"))
    queue.started(running, now=100.0)
    running.status = JobStatus.PROCESSING
    assert queue.position(running) is None and queue.has_work()
    assert queue.record_progress(TaskProgress("a" * 32, 3.0, 12.0), now=101.0) is True
    progress = queue.progress("a" * 32)
    assert progress is not None and (progress.fraction, progress.started) == (0.25, 100.0)
    assert queue.record_progress(TaskProgress("z" * 32, 1.0, 2.0), now=101.0) is False
    queue.ended("a" * 32)
    assert queue.running is None and queue.progress("a" * 32) is None and not queue.has_work()
