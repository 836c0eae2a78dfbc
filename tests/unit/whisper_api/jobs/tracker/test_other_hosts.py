"""What a host does with the other hosts' news (whisper_api.jobs.tracker.other_hosts): its
picture of their progress, and the reads of the store it spends, against the memory store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from tests.unit.whisper_api.jobs.store_helpers import make_job
from whisper_api.jobs.dispatch.decoder_client import DecoderEvent
from whisper_api.jobs.dispatch.pool import DecoderSlot
from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.store.memory import MemoryJobStore
from whisper_api.jobs.tracker.other_hosts import OtherHosts
from whisper_api.jobs.tracker.sharing import Kind, News
from whisper_api.jobs.tracker.tracking import EndWaiters


class CountingStore(MemoryJobStore):
    """The memory store, counting the jobs read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get(self, task_id: str, owner: str | None = None) -> Job | None:
        self.reads += 1
        return await super().get(task_id, owner)


@dataclass
class Watchers:
    """The clients of this host, as the tracker's listener sees them."""

    watched: set[str] = field(default_factory=set)
    seen: list[tuple[str, JobStatus, bool]] = field(default_factory=list)
    moves: int = 0

    def job_changed(self, job: Job, progressed: bool) -> None:
        raise AssertionError("another host's job is seen, not changed here")

    def job_cancelled(self, task_id: str) -> None:
        pass

    def decoder_changed(self, slot: DecoderSlot, event: DecoderEvent) -> None:
        raise AssertionError("no decoder here")

    def job_seen(self, job: Job, progressed: bool) -> None:
        self.seen.append((job.task_id, job.status, progressed))

    def watches(self, task_id: str) -> bool:
        return task_id in self.watched

    def queue_moved(self) -> None:
        self.moves += 1


def test_a_job_is_read_only_where_a_client_follows_it_or_waits_for_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        store, queue, watchers, waiters = CountingStore(), JobQueue(), Watchers(), EndWaiters()
        hosts = OtherHosts(store, queue, watchers, waiters, lambda: None, lambda task_id: None)
        followed, unfollowed = make_job(tmp_path, "a"), make_job(tmp_path, "b")
        for job in (followed, unfollowed):
            job.status = JobStatus.PROCESSING
            await store.add(job)
        watchers.watched.add(followed.task_id)
        for window in range(1, 51):
            for job in (followed, unfollowed):
                await hosts.heard(News(Kind.PROGRESS, job.task_id, 30.0 * window, 1500.0))
        assert store.reads == 50, "the followed task's progress alone is read"
        assert watchers.seen[-1] == (followed.task_id, JobStatus.PROCESSING, True)
        # Status answers here still show how far the unfollowed one is.
        progress = queue.progress(unfollowed.task_id)
        assert progress is not None and progress.decoded_s == 1500.0
        # Its end is not read either: the picture lets go of its progress.
        unfollowed.status = JobStatus.FINISHED
        await store.finish(unfollowed)
        await hosts.heard(News(Kind.JOB, unfollowed.task_id))
        assert store.reads == 50 and queue.progress(unfollowed.task_id) is None
        # A client here that waits for a job's end (the OpenAI routes) has it read, and hears it.
        awaited = asyncio.create_task(waiters.wait(followed.task_id, store))
        await asyncio.sleep(0)  # it has read the job once, running: it waits
        followed.status = JobStatus.FINISHED
        await store.finish(followed)
        watchers.watched.clear()
        await hosts.heard(News(Kind.JOB, followed.task_id))
        ended = await asyncio.wait_for(awaited, 5)
        assert ended is not None and ended.status is JobStatus.FINISHED and store.reads == 52
        # The queue moved elsewhere: the watchers here hear their places, and nothing is read.
        await hosts.heard(News(Kind.QUEUE))
        assert watchers.moves == 1 and store.reads == 52

    asyncio.run(scenario())
