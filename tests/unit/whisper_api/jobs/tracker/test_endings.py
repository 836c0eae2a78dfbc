"""A job's end as the tracker records and tells it (whisper_api.jobs.tracker.endings), against
the memory store: what the store keeps, who hears of it and what the other hosts are told."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.unit.whisper_api.jobs.store_helpers import make_job
from tests.unit.whisper_api.jobs.tracker.test_task_tracker import Listener
from whisper_api.jobs.dispatch.supervision import Action, Fate
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.store.memory import MemoryJobStore
from whisper_api.jobs.tracker.endings import Endings
from whisper_api.jobs.tracker.sharing import Kind, News
from whisper_api.jobs.tracker.tracking import EndWaiters


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.store = MemoryJobStore()
        self.listener = Listener()
        self.waiters = EndWaiters()
        self.told: list[News] = []
        self.endings = Endings(self.store, self.listener, self.waiters, self.told.append)
        self.job = make_job(tmp_path, "a")

    async def waiting_for_the_end(self) -> asyncio.Task[Job | None]:
        """A client waiting for the job's end (woken by it, or reading it once it is stored)."""
        await self.store.add(self.job)
        return asyncio.create_task(self.waiters.wait(self.job.task_id, self.store))


def test_a_recorded_end_is_stored_heard_and_told(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        waiter = await rig.waiting_for_the_end()
        rig.job.status = JobStatus.FINISHED
        await rig.endings.record(rig.job)
        stored = await rig.store.get(rig.job.task_id)
        assert stored is not None and stored.status is JobStatus.FINISHED and stored.expires_at is not None
        assert not rig.job.audio_path.exists(), "the upload goes with the end"
        assert (await waiter) is not None
        assert rig.listener.changes == [(rig.job.task_id, JobStatus.FINISHED, False)]
        assert rig.told == [News(Kind.JOB, rig.job.task_id)]

    asyncio.run(scenario())


def test_a_dropped_job_is_gone_and_its_waiters_hear_none(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        waiter = await rig.waiting_for_the_end()
        await rig.endings.drop(rig.job)
        assert await rig.store.get(rig.job.task_id) is None
        assert (await waiter) is None
        assert rig.listener.cancelled == [rig.job.task_id]
        assert rig.told == [News(Kind.CANCELLED, rig.job.task_id)]

    asyncio.run(scenario())


def test_the_supervisions_fate_is_carried_out_and_a_kept_job_left_alone(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        await rig.store.add(rig.job)
        await rig.endings.carry_out(rig.job, Fate(Action.KEEP))
        await rig.endings.carry_out(rig.job, Fate(Action.REQUEUE))
        assert rig.told == [] and rig.listener.changes == []
        await rig.endings.carry_out(rig.job, Fate(Action.FAIL, "it took a decoder down twice"))
        failed = await rig.store.get(rig.job.task_id)
        assert failed is not None and failed.status is JobStatus.FAILED
        assert failed.error == "it took a decoder down twice"
        await rig.endings.carry_out(rig.job, Fate(Action.DROP))
        assert await rig.store.get(rig.job.task_id) is None

    asyncio.run(scenario())
