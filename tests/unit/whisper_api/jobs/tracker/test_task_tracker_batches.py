"""The tracker with decoders that take batches (scripted): short jobs that pile up go together,
each ends on its own, after a crash each job of the batch goes alone, and what waits is shared
out among the free decoders."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from decoder.wire.protocol import SubmitBatch, SubmitTask, TaskCancelled, TaskStarted
from tests.unit.whisper_api.jobs.scripted_decoder import ScriptedDecoder
from tests.unit.whisper_api.jobs.tracker.test_task_tracker import (
    Listener,
    Rig,
    _true,
    finished,
    scenario,
    scripted_pool,
)
from whisper_api.jobs.dispatch.queue import JobQueue, submission
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.store.memory import MemoryJobStore
from whisper_api.jobs.tracker.task_tracker import TaskTracker


async def submit_short(rig: Rig, letters: str) -> list[Job]:
    jobs = [rig.job(letter) for letter in letters]
    for job in jobs:
        job.duration_s = 5.0
        await rig.tracker.submit(job)
    return jobs


async def _batches(rig: Rig) -> None:
    rig.decoder.batch_files = 3
    assert rig.decoder.ready is not None
    rig.decoder.ready = dataclasses.replace(rig.decoder.ready, batch_files=3)
    a, b, c, d, e = await submit_short(rig, "abcde")
    # A free decoder is handed the first job at once, alone; the others wait and pile up.
    assert rig.decoder.sent == [submission(a)]
    rig.decoder.report(TaskStarted(a.task_id, "tiny.en", time.time()))
    rig.decoder.report(finished(a.task_id))
    batch = SubmitBatch(tuple(submission(job) for job in (b, c, d)))
    await rig.until(lambda: _true(rig.decoder.sent[-1:] == [batch]), "the batch")
    for job in (b, c, d):
        rig.decoder.report(TaskStarted(job.task_id, "tiny.en", time.time()))
    await rig.status_becomes(d.task_id, JobStatus.PROCESSING)
    # Each ends on its own; the decoder holds the rest of its batch until they end.
    rig.decoder.report(finished(b.task_id, "bee"))
    rig.decoder.report(TaskCancelled(c.task_id))
    await rig.status_becomes(b.task_id, JobStatus.FINISHED)
    await rig.status_becomes(c.task_id, None)
    assert rig.queue.held_by(0) == (d.task_id,) and rig.decoder.sent[-1] == batch
    # A crash: what was left of the batch is decoded alone, before the job behind it.
    rig.decoder.crash()
    await rig.until(lambda: _true(rig.decoder.starts == 2 and len(rig.decoder.sent) == 1), "restart")
    assert rig.decoder.sent == [submission(d)]
    rig.decoder.report(TaskStarted(d.task_id, "tiny.en", time.time()))
    rig.decoder.report(finished(d.task_id))
    await rig.until(lambda: _true(len(rig.decoder.sent) == 2), "the job behind it")
    assert [message.task_id for message in rig.decoder.sent if isinstance(message, SubmitTask)] == [
        d.task_id,
        e.task_id,
    ]


test_short_jobs_that_wait_are_batched_and_end_one_by_one = scenario(_batches)


def test_what_waits_is_shared_out_among_free_decoders(tmp_path: Path) -> None:
    async def run() -> None:
        uploads = tmp_path / "uploads"
        uploads.mkdir()
        store = MemoryJobStore()
        waiting = []
        for uploaded_at, letter in enumerate("abcde"):
            audio = uploads / (letter * 32)
            audio.write_bytes(b"audio")
            job = Job(letter * 32, "transcribe", None, audio, "x.wav", float(uploaded_at), duration_s=5.0)
            await store.add(job)
            waiting.append(submission(job))
        queue = JobQueue()
        pool = scripted_pool(queue, 2, asyncio.sleep)
        decoders: list[ScriptedDecoder] = [slot.decoder for slot in pool.slots]  # type: ignore[misc]
        for decoder in decoders:
            decoder.batch_files = 8
        tracker = TaskTracker(store, pool, queue, Listener())
        await tracker.start(uploads)
        try:
            # Five short jobs and two free decoders: three and two, not five and none.
            assert [decoder.sent for decoder in decoders] == [
                [SubmitBatch(tuple(waiting[:3]))],
                [SubmitBatch(tuple(waiting[3:]))],
            ]
        finally:
            await tracker.close()

    asyncio.run(run())
