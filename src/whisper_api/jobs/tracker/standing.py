"""Where the cluster's queue stands, where several hosts share it (whisper_api.jobs.tracker.sharing):
the host holds no copy of the queue, only a few numbers the database keeps for it
(sql/postgres/0003_queue_standing.sql).

- the queue's length and the upload time of the job first in line, read again whenever a host
  says the queue moved and every few seconds (the queue limit and /metrics use them);
- the places of the jobs a client here watches, read at the same time, so that their watchers
  hear that they moved up;
- the place of any other job, read when a client asks for it (`locate`).

Each of these costs a few dozen rows whatever the backlog, and the host's memory holds the
places of the watched jobs only.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence

from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.progress import Progress
from whisper_api.jobs.store.postgres import PostgresJobStore


class ClusterStanding:
    def __init__(
        self, store: PostgresJobStore, queue: JobQueue, watched: Callable[[], Collection[str]]
    ) -> None:
        self._store = store
        # The host's own part: the progress of what its decoders run, and what other hosts said.
        self._queue = queue
        self._watched = watched
        self._count = 0
        self._oldest: float | None = None
        self._positions: dict[str, int] = {}

    async def refresh(self) -> None:
        """Read the queue's length, its head, and the places of the watched jobs."""
        self._count, self._oldest = await self._store.standing()
        self._positions = await self._store.positions(list(self._watched()))

    def added(self) -> None:
        """This host queued a job: it counts against the limit before the next refresh."""
        self._count += 1

    async def locate(self, jobs: Sequence[Job]) -> None:
        waiting = [job.task_id for job in jobs if job.status is JobStatus.PENDING]
        if waiting:
            self._positions.update(await self._store.positions(waiting))

    def position(self, job: Job) -> int | None:
        return self._positions.get(job.task_id) if job.status is JobStatus.PENDING else None

    def progress(self, task_id: str) -> Progress | None:
        return self._queue.progress(task_id)

    def waiting_positions(self) -> Iterable[tuple[str, int]]:
        return list(self._positions.items())

    def count(self) -> int:
        return self._count

    def oldest_upload(self) -> float | None:
        return self._oldest
