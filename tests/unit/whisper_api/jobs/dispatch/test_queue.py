"""The in-memory queue: order, positions, what each decoder slot holds, detections, progress."""

from __future__ import annotations

import asyncio
from pathlib import Path

from decoder.wire.options import DecodeOptions, Diarization
from decoder.wire.protocol import (
    BATCH_FILE_MAX_S,
    STAGES,
    DetectLanguage,
    LanguageDetected,
    SubmitBatch,
    SubmitTask,
    TaskProgress,
)
from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.views import task_json


def job(letter: str) -> Job:
    return Job(letter * 32, "transcribe", None, Path(f"/{letter}"), f"{letter}.wav", 0.0)


def submission(letter: str) -> SubmitTask:
    return SubmitTask(letter * 32, f"/{letter}", "transcribe", None)


def short(
    letter: str,
    duration_s: float = 8.0,
    language: str | None = "en",
    options: DecodeOptions | None = None,
) -> SubmitTask:
    chosen = options or DecodeOptions()
    return SubmitTask(letter * 32, f"/{letter}", "transcribe", language, chosen, duration_s=duration_s)


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
    assert first == submission("a")
    queue.hand(first, 0)
    second = queue.next_work()
    assert second == submission("b")
    queue.hand(second, 1)
    assert not queue.is_free(0) and queue.busy(1) and queue.slot_holding("b" * 32) == 1
    # Handed but not started: still waiting, at the front, and its slot holds it until it ends.
    assert queue.position(job("a")) == 0 and queue.drop("a" * 32) == 0 and queue.held_by(0) == ("a" * 32,)
    queue.ended("a" * 32)
    assert queue.is_free(0) and queue.next_work() == submission("c")
    # A dead decoder's job, handed and not started, is free for the next decoder.
    queue.release(1)
    assert queue.is_free(1) and queue.next_work() == submission("b")


def test_detections_go_before_waiting_jobs() -> None:
    async def run() -> None:
        queue = JobQueue()
        queue.add(submission("a"), 0.0)
        answer: asyncio.Future[LanguageDetected] = asyncio.get_running_loop().create_future()
        queue.ask_detection(DetectLanguage("d" * 32, "/d"), answer)
        detection = queue.next_work()
        assert detection == DetectLanguage("d" * 32, "/d")
        queue.hand(detection, 0)
        assert queue.next_work() == submission("a") and queue.held_by(0) == ("d" * 32,)
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
    assert queue.position(running) is None and queue.running_in(3) == [running]
    assert queue.record_progress(TaskProgress("a" * 32, 3.0, 12.0), now=101.0) is running
    progress = queue.progress("a" * 32)
    assert progress is not None and (progress.fraction, progress.started) == (0.25, 100.0)
    assert queue.record_progress(TaskProgress("z" * 32, 1.0, 2.0), now=101.0) is None
    queue.ended("a" * 32)
    assert not queue.running and queue.progress("a" * 32) is None and queue.is_free(3)


def test_a_batch_is_the_first_job_and_the_alike_short_ones_right_behind_it() -> None:
    queue = JobQueue()
    waiting = [
        short("a"),
        short("b"),
        short("c", options=DecodeOptions(initial_prompt="names")),
        short("d"),
        short("e"),
        short("f", BATCH_FILE_MAX_S + 1),
        short("g"),
        short("h"),
        short("i"),
    ]
    for uploaded_at, task in enumerate(waiting):
        queue.add(task, float(uploaded_at))
    # Arrival order decides: a job with other options ends the batch, it does not skip it.
    first = queue.next_work(batch_files=4)
    assert first == SubmitBatch((short("a"), short("b")))
    queue.hand(first, 0)
    assert queue.held_by(0) == ("a" * 32, "b" * 32) and queue.held_ids() == ["a" * 32, "b" * 32]
    # A job that cannot be batched goes alone; so does one a decoder of batch size 1 takes.
    second = queue.next_work(batch_files=4)
    assert second == short("c", options=DecodeOptions(initial_prompt="names"))
    queue.hand(second, 1)
    third = queue.next_work(batch_files=4)
    assert third == SubmitBatch((short("d"), short("e")))
    queue.hand(third, 2)
    fourth = queue.next_work(batch_files=4)
    assert fourth == short("f", BATCH_FILE_MAX_S + 1)
    queue.hand(fourth, 3)
    assert queue.next_work(batch_files=2) == SubmitBatch((short("g"), short("h")))
    assert queue.next_work(batch_files=1) == short("g")
    # Each batched job ends on its own; the slot is free once the last has.
    queue.ended("a" * 32)
    assert not queue.is_free(0) and queue.slot_holding("b" * 32) == 0
    queue.ended("b" * 32)
    assert queue.is_free(0)


def test_a_job_whose_language_is_to_be_detected_is_batched_only_by_an_english_model() -> None:
    queue = JobQueue()
    for uploaded_at, letter in enumerate("ab"):
        queue.add(short(letter, language=None), float(uploaded_at))
    assert queue.next_work(batch_files=8) == short("a", language=None)
    batch = queue.next_work(batch_files=8, english_only=True)
    assert batch == SubmitBatch((short("a", language=None), short("b", language=None)))


def test_a_dead_decoders_batch_waits_again_and_each_of_it_goes_alone() -> None:
    queue = JobQueue()
    jobs = [job("a"), job("b")]
    for uploaded_at, letter in enumerate("ab"):
        queue.add(short(letter), float(uploaded_at))
    batch = queue.next_work(batch_files=2)
    assert batch is not None
    queue.hand(batch, 0)
    for running in jobs:
        queue.started(running, now=1.0)
    assert queue.running_in(0) == jobs
    queue.release(0)
    assert queue.is_free(0) and queue.running_in(0) == [] and not queue.running
    # Back in line after the crash, each is decoded alone: either may be what killed the decoder.
    for uploaded_at, letter in enumerate("ab"):
        queue.add(short(letter), float(uploaded_at), alone=True)
    queue.add(short("c"), 2.0)
    assert queue.next_work(batch_files=2) == short("a")
    queue.drop("a" * 32)
    assert queue.next_work(batch_files=2) == short("b")
    queue.drop("b" * 32)
    queue.add(short("d"), 3.0)
    assert queue.next_work(batch_files=2) == SubmitBatch((short("c"), short("d")))


def test_a_job_that_labels_speakers_is_never_batched() -> None:
    queue = JobQueue()
    diarized = DecodeOptions(word_timestamps=True, diarization=Diarization())
    for uploaded_at, task in enumerate([short("a", options=diarized), short("b", options=diarized)]):
        queue.add(task, float(uploaded_at))
    assert queue.next_work(batch_files=4) == short("a", options=diarized)


def test_the_stage_is_reported_and_each_stage_has_its_own_estimate() -> None:
    queue = JobQueue()
    running = job("a")
    queue.add(submission("a"), 0.0)
    queue.hand(submission("a"), 0)
    queue.started(running, now=100.0)
    running.status = JobStatus.PROCESSING
    queue.record_progress(TaskProgress("a" * 32, 12.0, 12.0), now=110.0)
    assert task_json(running, queue)["stage"] == STAGES[0]
    queue.record_progress(TaskProgress("a" * 32, 3.0, 12.0, stage=STAGES[1]), now=120.0)
    progress = queue.progress("a" * 32)
    assert progress is not None and (progress.stage, progress.started) == (STAGES[1], 120.0)
    assert task_json(running, queue)["stage"] == "diarizing"
    running.status = JobStatus.FINISHED
    assert task_json(running, queue)["stage"] is None
