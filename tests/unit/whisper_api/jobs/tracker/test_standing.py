"""Where the cluster's queue stands, on a real PostgreSQL: the host asks the database for the
queue's length and head and for the places of the tasks it is asked about or whose watchers it
tells, and keeps nothing else of the queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.backlog import add_backlog
from tests.unit.whisper_api.jobs.store_helpers import make_job, run
from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.job import JobStatus
from whisper_api.jobs.progress import Progress
from whisper_api.jobs.store.postgres import PostgresJobStore
from whisper_api.jobs.tracker.standing import LOCATED_FOR_S, ClusterStanding


def test_the_host_knows_the_clusters_queue_without_holding_it(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        store = PostgresJobStore(database_url, host="here", keep_results_s=60, refresh_on_use=False)
        await store.open()
        watched: list[str] = []
        standing = ClusterStanding(store, JobQueue(), lambda: watched)
        try:
            # Another host's jobs wait first; then two of this host's.
            add_backlog(database_url, 300, held=False, uploaded_at=5.0)
            first, second = make_job(tmp_path, "a", uploaded_at=6.0), make_job(tmp_path, "b", uploaded_at=7.0)
            for job in (first, second):
                await store.add(job)
                standing.added()
            # Before the first look, the host counts only what it queued itself.
            assert standing.count() == 2 and standing.oldest_upload() is None
            watched.append(second.task_id)
            await standing.refresh()
            assert (standing.count(), standing.oldest_upload()) == (302, 5.0)
            # The watched task's place is known, and told; another's once it is asked for.
            assert list(standing.waiting_positions()) == [(second.task_id, 301)]
            assert standing.position(first) is None
            await standing.locate([first, second])
            assert (standing.position(first), standing.position(second)) == (300, 301)
            # A task that runs has no place, whatever was known of it.
            first.status = JobStatus.PROCESSING
            await store.save(first)
            assert standing.position(first) is None
            await standing.refresh()
            assert standing.count() == 301 and list(standing.waiting_positions()) == [(second.task_id, 300)]
            # A client that asks again within LOCATED_FOR_S is told the place read last.
            reads = []
            read_positions = store.positions

            async def counted(task_ids: Sequence[str]) -> dict[str, int]:
                reads.append(list(task_ids))
                return await read_positions(task_ids)

            store.positions = counted  # type: ignore[method-assign]
            third = make_job(tmp_path, "c", uploaded_at=8.0)
            await store.add(third)
            for _ in range(5):
                await standing.locate([third])
            assert reads == [[third.task_id]] and standing.position(third) == 301
        finally:
            await store.close()

    run(scenario)


def test_another_hosts_decode_is_told_as_far_as_its_host_wrote_it(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        here, there = (
            PostgresJobStore(database_url, host=name, keep_results_s=60, refresh_on_use=False)
            for name in ("here", "there")
        )
        await here.open()
        await there.open()
        standing = ClusterStanding(here, JobQueue(), list)
        try:
            job = make_job(tmp_path, "p")
            await here.add(job)
            claimed = await there.claim(60)
            assert claimed is not None
            claimed.status = JobStatus.PROCESSING
            await there.save(claimed)
            # Nothing written yet: nothing to tell.
            await standing.locate([claimed])
            assert standing.progress(job.task_id) is None
            await there.note_progress(job.task_id, Progress(12.0, 48.0, time.monotonic() - 3.0))
            # Asked again within LOCATED_FOR_S, the host tells what it read; afterwards, the new.
            await standing.locate([claimed])
            assert standing.progress(job.task_id) is None
            await asyncio.sleep(LOCATED_FOR_S)
            await standing.locate([claimed])
            told = standing.progress(job.task_id)
            assert told is not None
            assert (told.decoded_s, told.duration_s, told.stage) == (12.0, 48.0, "transcribing")
            # Its stage began three seconds ago (the database's clock): the estimate runs from then.
            assert told.eta_s is not None and 8.5 <= told.eta_s <= 30
            # A host that lost its claim writes nothing; a new claim starts from nothing.
            await here.note_progress(job.task_id, Progress(40.0, 48.0, time.monotonic()))
            assert (await here.progress([job.task_id]))[job.task_id].decoded_s == 12.0
            await there.let_go()
            assert await here.claim(60) is not None
            assert await here.progress([job.task_id]) == {}
        finally:
            await here.close()
            await there.close()

    run(scenario)
