"""Where the cluster's queue stands, where several hosts share it (whisper_api.jobs.tracker.sharing):
the host holds no copy of the queue, only a few numbers the database keeps for it
(sql/postgres/0003_queue_standing.sql).

- the queue's length and the upload time of the job first in line, read for each upload (the
  queue limit) and every few seconds (/metrics);
- the places of the jobs a client here watches, read at the same time, so that their watchers
  hear that they moved up;
- the place of any other job, read when a client asks for it (`locate`), and kept for
  LOCATED_FOR_S: a client polling its task's status many times a second costs one read a second;
- likewise how far another host's decode of a job is, as that host last wrote it: the hosts
  hear a decode's progress only while a client there follows its events.

Each of these costs a few dozen rows whatever the backlog, and the host's memory holds the
places of the watched jobs, and what was asked for within LOCATED_FOR_S, only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Sequence

from decoder.wire.protocol import STAGES
from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.progress import Progress
from whisper_api.jobs.store.postgres import PostgresJobStore

# How long a place that a client asked for is told again without reading it again.
LOCATED_FOR_S = 1.0


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
        # Other hosts' decodes, as the store had them.
        self._progress: dict[str, Progress] = {}
        # When each place or progress was read (monotonic seconds).
        self._read_at: dict[str, float] = {}

    async def refresh(self) -> None:
        """Read the queue's length, its head, and the places of the watched jobs."""
        self._count, self._oldest = await self._store.standing()
        now = time.monotonic()
        # The watched jobs' places, and what is still fresh of the others.
        self._read_at = {
            task_id: read_at for task_id, read_at in self._read_at.items() if now - read_at < LOCATED_FOR_S
        }
        self._positions = {task_id: at for task_id, at in self._positions.items() if task_id in self._read_at}
        self._progress = {task_id: p for task_id, p in self._progress.items() if task_id in self._read_at}
        self._remember(await self._store.positions(list(self._watched())), now)

    def watched(self) -> Collection[str]:
        """The tasks whose events a client here follows."""
        return self._watched()

    def watching(self) -> bool:
        """Whether a client here follows a task's events (a waiting one's place may concern it)."""
        return bool(self._watched())

    def added(self) -> None:
        """This host queued a job: it counts before the next look."""
        self._count += 1

    async def counted(self) -> int:
        self._count, self._oldest = await self._store.standing()
        return self._count

    async def locate(self, jobs: Sequence[Job]) -> None:
        now = time.monotonic()
        stale = [
            job
            for job in jobs
            if job.task_id not in self._read_at or now - self._read_at[job.task_id] >= LOCATED_FOR_S
        ]
        waiting = [job.task_id for job in stale if job.status is JobStatus.PENDING]
        if waiting:
            self._remember(await self._store.positions(waiting), now)
        elsewhere = [
            job.task_id
            for job in stale
            if job.status is JobStatus.PROCESSING and self._queue.slot_holding(job.task_id) is None
        ]
        if elsewhere:
            self._progress.update(await self._store.progress(elsewhere))
            self._read_at.update(dict.fromkeys(elsewhere, now))

    def _remember(self, positions: dict[str, int], read_at: float) -> None:
        self._positions.update(positions)
        self._read_at.update(dict.fromkeys(positions, read_at))

    def position(self, job: Job) -> int | None:
        return self._positions.get(job.task_id) if job.status is JobStatus.PENDING else None

    def progress(self, task_id: str) -> Progress | None:
        """The further of what this host heard (its own decode, or a watched one) and what it read."""
        known = [p for p in (self._queue.progress(task_id), self._progress.get(task_id)) if p is not None]
        return max(known, key=lambda p: (STAGES.index(p.stage), p.decoded_s), default=None)

    def waiting_positions(self) -> Iterable[tuple[str, int]]:
        watched = set(self._watched())
        return [(task_id, position) for task_id, position in self._positions.items() if task_id in watched]

    def count(self) -> int:
        return self._count

    def oldest_upload(self) -> float | None:
        return self._oldest
