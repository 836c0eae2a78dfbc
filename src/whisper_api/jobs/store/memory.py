"""A JobStore that keeps its jobs in memory, for unit tests of the tracker and its neighbours.

It keeps the JobStore contract as the SQLite and PostgreSQL stores do (copies in and out,
upload order, expiry on read and refresh on use, deleting a job's file): one test suite
(tests/unit/whisper_api/jobs/store/test_contract.py) runs against all three. It has no disk
and no thread, and nothing survives the process. `refuse_writes` makes every write fail as a
full disk would, until it is cleared.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable

from whisper_api.jobs.errors import StoreUnavailable
from whisper_api.jobs.job import Job, JobStatus, delete_file
from whisper_api.jobs.store.lifetime import Lifetime


class MemoryJobStore:
    def __init__(
        self,
        *,
        keep_results_s: float = 3600,
        refresh_on_use: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lifetime = Lifetime(keep_results_s, refresh_on_use, clock)
        self._clock = clock
        # In upload order: dicts keep the order in which keys were first added.
        self._jobs: dict[str, Job] = {}
        self.refuse_writes = False

    async def add(self, job: Job) -> None:
        self._write()
        self._jobs[job.task_id] = copy.copy(job)

    async def save(self, job: Job) -> None:
        self._write()
        if job.task_id in self._jobs:
            self._jobs[job.task_id] = copy.copy(job)

    async def save_result(self, job: Job) -> None:
        self._write()
        if job.task_id in self._jobs:
            self._jobs[job.task_id].result = job.result

    async def request_cancel(self, job: Job) -> None:
        self._write()
        if job.task_id in self._jobs:
            self._jobs[job.task_id].cancel_requested = True

    async def finish(self, job: Job) -> None:
        self._lifetime.start(job)
        await self.save(job)
        delete_file(job.audio_path)

    async def get(self, task_id: str, owner: str | None = None) -> Job | None:
        job = self._jobs.get(task_id)
        if job is None or (owner is not None and job.owner != owner):
            return None
        if self._lifetime.over(job):
            with contextlib.suppress(StoreUnavailable):
                await self.remove(job)
            return None
        job.expires_at = self._lifetime.refreshed(job) or job.expires_at
        return copy.copy(job)

    async def unfinished(self) -> list[Job]:
        waiting = (JobStatus.PENDING, JobStatus.PROCESSING)
        return [copy.copy(job) for job in self._jobs.values() if job.status in waiting]

    async def same_upload(self, owner: str, content_key: str) -> Job | None:
        now = self._clock()
        for job in reversed(self._jobs.values()):
            usable = job.status is not JobStatus.FAILED and not job.cancel_requested
            fresh = job.expires_at is None or job.expires_at > now
            if job.owner == owner and job.content_key == content_key and usable and fresh:
                return copy.copy(job)
        return None

    async def page(self, owner: str, limit: int, offset: int) -> list[Job]:
        theirs = [job for job in reversed(self._jobs.values()) if job.owner == owner]
        return [copy.copy(job) for job in theirs[offset : offset + limit]]

    async def remove(self, job: Job) -> None:
        self._write()
        self._jobs.pop(job.task_id, None)
        delete_file(job.audio_path)

    async def expire(self) -> int:
        now = self._clock()
        expired = [job for job in self._jobs.values() if job.expires_at is not None and job.expires_at <= now]
        for job in expired:
            await self.remove(job)
        return len(expired)

    async def open(self) -> None:
        """Nothing to connect to."""

    async def check(self) -> str | None:
        return self.failing

    @property
    def failing(self) -> str | None:
        return "the memory store refuses writes" if self.refuse_writes else None

    async def close(self) -> None:
        self._jobs.clear()

    def _write(self) -> None:
        if self.refuse_writes:
            raise StoreUnavailable("the memory store refuses writes (a test's full disk)", full=True)
