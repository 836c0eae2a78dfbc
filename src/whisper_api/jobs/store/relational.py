"""What the SQLite and PostgreSQL stores share: the JobStore protocol
(whisper_api.jobs.job) as SQL that both databases speak, over the jobs table
(whisper_api.jobs.store.rows), and the rules of a result's lifetime: it expires when it is read
late, and where the store refreshes on use, reading it makes it last longer.

A store built on SqlJobStore supplies its driver's placeholder, a select and a statement; it
adds what only its database does (SQLite's file, PostgreSQL's claims and leases) and its own
expiry sweep, which PostgreSQL runs under a lock."""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from whisper_api.jobs.errors import StoreUnavailable
from whisper_api.jobs.job import Job, JobStatus, delete_file
from whisper_api.jobs.store.lifetime import Lifetime
from whisper_api.jobs.store.rows import COLUMNS, UNFINISHED, result_value, row_values


class SqlJobStore(ABC):
    # How the driver marks a parameter in SQL: "?" for sqlite3, "%s" for psycopg.
    mark: ClassVar[str]

    def __init__(
        self, *, keep_results_s: float, refresh_on_use: bool, clock: Callable[[], float] = time.time
    ) -> None:
        self._lifetime = Lifetime(keep_results_s, refresh_on_use, clock)
        self._clock = clock

    @abstractmethod
    async def _select(self, where: str, parameters: Sequence[Any]) -> list[Job]:
        """The jobs of `SELECT * FROM jobs {where}`."""

    @abstractmethod
    async def _execute(self, statement: str, parameters: Sequence[Any]) -> None:
        """Run one write; StoreUnavailable where the database cannot take it now."""

    async def add(self, job: Job) -> None:
        marks = ", ".join(self.mark for _ in COLUMNS)
        await self._execute(f"INSERT INTO jobs ({', '.join(COLUMNS)}) VALUES ({marks})", row_values(job))

    async def save(self, job: Job) -> None:
        assignments, values = self._assignments(job)
        statement = f"UPDATE jobs SET {assignments} WHERE task_id = {self.mark}"
        await self._execute(statement, (*values, job.task_id))

    def _assignments(self, job: Job) -> tuple[str, list[Any]]:
        """The SET clause that writes every field of the job but its id, and its values."""
        assignments = ", ".join(f"{name} = {self.mark}" for name in COLUMNS if name != "task_id")
        values = [value for name, value in zip(COLUMNS, row_values(job), strict=True) if name != "task_id"]
        return assignments, values

    async def save_result(self, job: Job) -> None:
        """The result alone: the job is over, and any host may rename its speakers."""
        statement = f"UPDATE jobs SET result = {self.mark} WHERE task_id = {self.mark}"
        await self._execute(statement, (result_value(job), job.task_id))

    async def request_cancel(self, job: Job) -> None:
        await self._execute(
            f"UPDATE jobs SET cancel_requested = {self.mark} WHERE task_id = {self.mark}", (True, job.task_id)
        )

    async def finish(self, job: Job) -> None:
        self._lifetime.start(job)
        await self.save(job)
        await asyncio.to_thread(delete_file, job.audio_path)

    async def get(self, task_id: str, owner: str | None = None) -> Job | None:
        """The job; with `owner`, only if it is theirs: another's costs what an unknown one does."""
        where, parameters = f"WHERE task_id = {self.mark}", [task_id]
        if owner is not None:
            where, parameters = f"{where} AND owner = {self.mark}", [task_id, owner]
        found = await self._select(where, parameters)
        if not found:
            return None
        job = found[0]
        if self._lifetime.over(job):
            with contextlib.suppress(StoreUnavailable):
                await self.remove(job)
            return None
        refreshed = self._lifetime.refreshed(job)
        if refreshed is not None:
            job.expires_at = refreshed
            # A lost refresh only shortens the result's life: a read never fails for it.
            with contextlib.suppress(StoreUnavailable):
                statement = f"UPDATE jobs SET expires_at = {self.mark} WHERE task_id = {self.mark}"
                await self._execute(statement, (refreshed, task_id))
        return job

    async def unfinished(self) -> list[Job]:
        return await self._select(f"WHERE status IN ({self.mark}, {self.mark}) ORDER BY seq", UNFINISHED)

    async def same_upload(self, owner: str, content_key: str) -> Job | None:
        """Not failed, not cancelled, not expired: the newest of the owner's with this content."""
        m = self.mark
        found = await self._select(
            f"WHERE owner = {m} AND content_key = {m} AND status <> {m} AND NOT cancel_requested "
            f"AND (expires_at IS NULL OR expires_at > {m}) ORDER BY seq DESC LIMIT 1",
            (owner, content_key, JobStatus.FAILED.value, self._clock()),
        )
        return found[0] if found else None

    async def page(self, owner: str, limit: int, offset: int) -> list[Job]:
        return await self._select(
            f"WHERE owner = {self.mark} ORDER BY seq DESC LIMIT {self.mark} OFFSET {self.mark}",
            (owner, limit, offset),
        )

    async def remove(self, job: Job) -> None:
        await self._execute(f"DELETE FROM jobs WHERE task_id = {self.mark}", (job.task_id,))
        await asyncio.to_thread(delete_file, job.audio_path)
