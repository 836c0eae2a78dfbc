"""Head starts (whisper_api.jobs.tracker.head_start): a free decoder begins on an upload whose check
still runs; nothing of it shows until the check passes, and a refused one leaves no trace."""

from __future__ import annotations

import time

from decoder.wire.protocol import CancelTask, SubmitTask, TaskCancelled, TaskProgress, TaskStarted
from tests.unit.whisper_api.jobs.tracker.test_task_tracker import Rig, _true, finished, scenario
from whisper_api.jobs.dispatch.queue import submission
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.tracker.head_start import HEAD_START_MAX_BYTES

# An upload's size in bytes, small enough for a head start.
SIZE = 100_000


def _ahead(rig: Rig, letter: str) -> tuple[Job, SubmitTask]:
    """A job as the upload check will pass it, and what is started ahead of that check."""
    job = rig.job(letter)
    return job, SubmitTask(job.task_id, str(job.audio_path), job.task_type, job.language, job.options)


def _nothing_shown(rig: Rig, task_id: str) -> bool:
    """No watcher heard of the task, nor of its decoder's reports about it."""
    changed = [change for change in rig.listener.changes if change[0] == task_id]
    reported = [
        event for _, event in rig.listener.decoder_events if getattr(event, "task_id", None) == task_id
    ]
    return not changed and not reported and task_id not in rig.listener.cancelled


async def _passed(rig: Rig) -> None:
    job, early = _ahead(rig, "a")
    assert rig.tracker.head_starts.start(early, SIZE)
    assert rig.decoder.sent == [early]
    # The decoder is done before the check is: nothing of it shows yet.
    rig.decoder.report(TaskStarted(job.task_id, "tiny.en", time.time()))
    rig.decoder.report(TaskProgress(job.task_id, 1.5, 1.5))
    rig.decoder.report(finished(job.task_id, "early words"))
    assert _nothing_shown(rig, job.task_id)
    assert rig.queue.held_by(0) == (job.task_id,) and rig.queue.progress(job.task_id) is None
    await rig.tracker.submit(job)
    await rig.status_becomes(job.task_id, JobStatus.FINISHED)
    stored = await rig.stored(job.task_id)
    assert stored is not None and stored.result is not None and stored.result.text == "early words"
    assert stored.attempts == 1
    statuses = [status for task_id, status, _ in rig.listener.changes if task_id == job.task_id]
    assert statuses[0] is JobStatus.PROCESSING and statuses[-1] is JobStatus.FINISHED
    # It was decoded once, and its decoder is free for the next job.
    assert rig.decoder.sent == [early]
    (b,) = await rig.submit("b")
    assert rig.decoder.sent[-1] == submission(b)


test_a_job_started_ahead_shows_only_once_its_check_passed = scenario(_passed)


async def _refused(rig: Rig) -> None:
    job, early = _ahead(rig, "a")
    assert rig.tracker.head_starts.start(early, SIZE)
    rig.decoder.report(TaskStarted(job.task_id, "tiny.en", time.time()))
    rig.tracker.head_starts.refuse(job.task_id)
    assert rig.decoder.sent[-1] == CancelTask(job.task_id)
    rig.decoder.report(TaskProgress(job.task_id, 1.0, 5.0))
    assert not rig.queue.is_free(0), "the decoder holds it until it says it stopped"
    rig.decoder.report(TaskCancelled(job.task_id))
    await rig.until(lambda: _true(rig.queue.is_free(0)), "its decoder is free")
    assert await rig.stored(job.task_id) is None and _nothing_shown(rig, job.task_id)
    assert rig.queue.progress(job.task_id) is None
    (b,) = await rig.submit("b")
    assert rig.submitted() == [job.task_id, b.task_id]


test_a_refused_job_started_ahead_is_stopped_and_leaves_no_trace = scenario(_refused)


async def _refused_after_its_end(rig: Rig) -> None:
    job, early = _ahead(rig, "a")
    assert rig.tracker.head_starts.start(early, SIZE)
    rig.decoder.report(TaskStarted(job.task_id, "tiny.en", time.time()))
    rig.decoder.report(finished(job.task_id))
    rig.tracker.head_starts.refuse(job.task_id)
    await rig.until(lambda: _true(rig.queue.is_free(0)), "its decoder is free")
    # It had ended: nothing is left to stop.
    assert CancelTask(job.task_id) not in rig.decoder.sent
    assert await rig.stored(job.task_id) is None and _nothing_shown(rig, job.task_id)


test_a_job_refused_after_its_result_came_only_frees_its_decoder = scenario(_refused_after_its_end)


async def _only_where_nothing_waits(rig: Rig) -> None:
    a, b = await rig.submit("a", "b")
    _, early = _ahead(rig, "c")
    assert not rig.tracker.head_starts.start(early, SIZE), "no decoder is free"
    rig.decoder.report(TaskStarted(a.task_id, "tiny.en", time.time()))
    rig.decoder.report(finished(a.task_id))
    await rig.until(lambda: _true(rig.decoder.sent[-1:] == [submission(b)]), "b is handed")
    assert not rig.tracker.head_starts.start(early, SIZE), "the decoder holds b"
    assert early not in rig.decoder.sent


test_nothing_starts_ahead_of_the_queue = scenario(_only_where_nothing_waits)


async def _two_decoders(rig: Rig) -> None:
    (a,) = await rig.submit("a")
    _, early = _ahead(rig, "c")
    # The second decoder is free and no job waits for one: it starts on the upload at once.
    assert rig.tracker.head_starts.start(early, SIZE)
    assert rig.decoders[1].sent == [early] and rig.decoders[0].sent == [submission(a)]


test_a_free_second_decoder_starts_ahead = scenario(_two_decoders, decoders=2)


async def _large(rig: Rig) -> None:
    _, early = _ahead(rig, "a")
    assert not rig.tracker.head_starts.start(early, HEAD_START_MAX_BYTES + 1)
    assert rig.decoder.sent == [] and rig.queue.is_free(0)


test_a_large_upload_gets_no_head_start = scenario(_large)


async def _decoder_died(rig: Rig) -> None:
    job, early = _ahead(rig, "a")
    assert rig.tracker.head_starts.start(early, SIZE)
    rig.decoder.report(TaskStarted(job.task_id, "tiny.en", time.time()))
    rig.decoder.crash()
    await rig.until(lambda: _true(rig.decoder.starts == 2 and rig.queue.is_free(0)), "restart")
    # The check passes after its decoder died: the job waits for a decoder like any other.
    await rig.tracker.submit(job)
    await rig.until(lambda: _true(rig.decoder.sent == [submission(job)]), "it is handed again")
    stored = await rig.stored(job.task_id)
    assert stored is not None and stored.status is JobStatus.PENDING and stored.attempts == 0


test_a_job_whose_decoder_died_before_its_check_passed_waits_again = scenario(_decoder_died)


async def _died_after_passing(rig: Rig) -> None:
    job, early = _ahead(rig, "a")
    assert rig.tracker.head_starts.start(early, SIZE)
    # The check passes before the decoder said anything; then the decoder dies.
    await rig.tracker.submit(job)
    assert rig.decoder.sent == [early] and rig.queue.held_by(0) == (job.task_id,)
    rig.decoder.crash()
    await rig.until(
        lambda: _true(rig.decoder.starts == 2 and rig.decoder.sent == [submission(job)]),
        "it is handed to the restarted decoder",
    )
    rig.decoder.report(TaskStarted(job.task_id, "tiny.en", time.time()))
    rig.decoder.report(finished(job.task_id))
    await rig.status_becomes(job.task_id, JobStatus.FINISHED)


test_a_passed_job_whose_decoder_dies_before_it_starts_is_handed_again = scenario(_died_after_passing)
