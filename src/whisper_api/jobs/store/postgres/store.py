"""The shared job store: PostgreSQL (DATABASE_URL), which several hosts use as one
(the database and its connection: whisper_api.jobs.store.postgres.connection).

The store is also the hosts' queue (whisper_api.jobs.tracker.sharing uses it): a host claims the
oldest unclaimed pending job (FOR UPDATE SKIP LOCKED, so two hosts never take the same one) with
a lease that it renews while it decodes. A host that disappears stops renewing, and once its
leases run out (the database's clock decides) another host claims its jobs. Writes of a job's
progress are refused (LeaseLost) to a host whose claim another host took over, so a result
decoded twice is stored once. How far a decode is goes into its row every few seconds, for the
hosts that a client asks about it (sql/postgres/0006_progress.sql). The database counts the
waiting jobs as they come and go (sql/postgres/0003_queue_standing.sql), so that the queue's
length and a job's place cost the same however long the queue. The expiry sweep takes an
advisory lock, so that one host at a time runs it. With MEDIA_STORE=database the uploads are
kept here too (whisper_api.jobs.store.postgres.media).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from whisper_api.jobs.errors import LeaseLost
from whisper_api.jobs.job import Job, JobStatus, delete_file
from whisper_api.jobs.progress import Progress
from whisper_api.jobs.store.postgres.connection import (
    CONNECT_TIMEOUT_S,
    EXPIRY_LOCK,
    NOW,
    Connection,
    Database,
)
from whisper_api.jobs.store.postgres.media import DatabaseMedia, MediaConnection
from whisper_api.jobs.store.postgres.workers import WorkerRows
from whisper_api.jobs.store.relational import SqlJobStore
from whisper_api.jobs.store.rows import COLUMNS, UNFINISHED, job_from_row, row_values

_OURS_OR_NOBODYS = "(claimed_by IS NULL OR claimed_by = %s)"
# The jobs a claim looks at, in turn, and in which order: those whose host's lease ran out (the
# longest lapsed first), then those nobody holds (in upload order). Each order is its partial
# index's, so that a probe reads the job it takes and not the jobs held before it.
_CLAIMABLE = (
    # The statement's start, not clock_timestamp(): an index condition must not change mid-statement.
    ("claimed_by IS NOT NULL AND lease_until < extract(epoch FROM statement_timestamp())", "lease_until"),
    ("claimed_by IS NULL", "seq"),
)
# Statuses written into the SQL, not passed as parameters: a prepared statement's generic plan
# uses the partial indexes (whose conditions name them) only then.
_IS_PENDING = f"status = '{JobStatus.PENDING.value}'"
_IS_UNFINISHED = f"status IN ({', '.join(repr(status) for status in UNFINISHED)})"


class PostgresJobStore(SqlJobStore):
    mark = "%s"

    def __init__(
        self,
        url: str,
        *,
        host: str,
        keep_results_s: float,
        refresh_on_use: bool,
        media_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`media_dir`: keep the uploads in the database (MEDIA_STORE=database), and this host's
        copies of them in this folder."""
        super().__init__(keep_results_s=keep_results_s, refresh_on_use=refresh_on_use, clock=clock)
        self.db = Database(url)
        # Who claims jobs, in claimed_by: unique to this server process.
        self.host = host
        self.media = None if media_dir is None else DatabaseMedia(url, media_dir, CONNECT_TIMEOUT_S)
        self.worker_rows = WorkerRows(self.db, host)

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def check(self) -> str | None:
        return await self.db.check()

    @property
    def failing(self) -> str | None:
        return self.db.failing

    async def add(self, job: Job) -> None:
        """Insert the job; with the uploads in the database, together with its upload, which this
        host then needs no more."""
        if self.media is None:
            await super().add(job)
            return
        marks = ", ".join("%s" for _ in COLUMNS)

        async def insert(db: MediaConnection, oid: int) -> None:
            await db.execute(
                f"INSERT INTO jobs ({', '.join(COLUMNS)}, media_oid) VALUES ({marks}, %s)",
                (*row_values(job), oid),
            )

        await self.media.store(job.audio_path, insert)
        await asyncio.to_thread(delete_file, job.audio_path)

    async def finish(self, job: Job) -> None:
        await super().finish(job)
        if self.media is not None:
            # Its upload goes (the trigger unlinks the large object).
            await self._execute("UPDATE jobs SET media_oid = NULL WHERE task_id = %s", (job.task_id,))

    async def fetch_media(self, job: Job) -> bool:
        """Bring the job's upload from the database to where this host keeps it; False where
        the uploads are not in the database, or this job's is not."""
        return self.media is not None and await self.media.fetch(job.task_id, job.audio_path)

    async def save(self, job: Job) -> None:
        """Write the job, unless another host took over its claim (LeaseLost)."""
        assignments, values = self._assignments(job)

        async def write(db: Connection) -> str | None:
            async with db.transaction():
                cursor = await db.execute(
                    f"UPDATE jobs SET {assignments} WHERE task_id = %s AND {_OURS_OR_NOBODYS}",
                    (*values, job.task_id, self.host),
                )
                if cursor.rowcount:
                    return None
                cursor = await db.execute("SELECT claimed_by FROM jobs WHERE task_id = %s", (job.task_id,))
                row = await cursor.fetchone()
                return None if row is None else str(row["claimed_by"])

        holder = await self.db.call(write)
        if holder is not None:
            raise LeaseLost(f"host {holder} took over task {job.task_id}")

    async def expire(self) -> int:
        """Delete the expired jobs, unless another host's sweep runs now."""

        async def sweep(db: Connection) -> list[Job]:
            async with db.transaction():
                cursor = await db.execute("SELECT pg_try_advisory_xact_lock(%s, %s) AS mine", EXPIRY_LOCK)
                row = await cursor.fetchone()
                if row is None or not row["mine"]:
                    return []
                cursor = await db.execute(
                    "DELETE FROM jobs WHERE expires_at <= %s RETURNING *", (self._clock(),)
                )
                expired = [self._job(row) for row in await cursor.fetchall()]
                if self.media is not None:
                    # Uploads no job holds (none should be: each is written with its job).
                    await db.execute(
                        "SELECT lo_unlink(oid) FROM pg_largeobject_metadata AS m "
                        "WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE media_oid = m.oid)"
                    )
                return expired

        expired = await self.db.call(sweep)
        for job in expired:
            await asyncio.to_thread(delete_file, job.audio_path)
        return len(expired)

    async def claim(self, lease_s: float, holding: Sequence[str] = ()) -> Job | None:
        """Take the oldest unfinished job whose host's lease ran out, else the oldest that no host
        holds, other than those this host's decoders hold (`holding`), whose leases a database
        outage may have let lapse. Each look is one probe of a partial index
        (sql/postgres/0003_queue_standing.sql), however long the queue."""
        for candidates, order in _CLAIMABLE:
            claimed = await self._query(
                f"""
                UPDATE jobs SET claimed_by = %s, lease_until = {NOW} + %s, progress = NULL
                WHERE task_id = (
                    SELECT task_id FROM jobs WHERE {candidates} AND {_IS_UNFINISHED}
                    AND NOT task_id = ANY(%s) ORDER BY {order} LIMIT 1 FOR UPDATE SKIP LOCKED
                )
                RETURNING *
                """,
                [self.host, lease_s, list(holding)],
            )
            if claimed:
                return claimed[0]
        return None

    async def renew(self, task_ids: Sequence[str], lease_s: float) -> None:
        """Extend this host's leases on the jobs it holds."""
        await self._execute(
            f"UPDATE jobs SET lease_until = {NOW} + %s WHERE claimed_by = %s AND task_id = ANY(%s)",
            (lease_s, self.host, list(task_ids)),
        )

    async def note_progress(self, task_id: str, progress: Progress) -> None:
        """Write how far this host's decode of a job is (a claim another host took is left alone)."""
        await self._execute(
            "UPDATE jobs SET progress = json_build_object('decoded_s', %s::float8, "
            f"'duration_s', %s::float8, 'stage', %s::text, 'since', {NOW} - %s::float8)::text "
            "WHERE task_id = %s AND claimed_by = %s",
            (
                progress.decoded_s,
                progress.duration_s,
                progress.stage,
                time.monotonic() - progress.started,
                task_id,
                self.host,
            ),
        )

    async def progress(self, task_ids: Sequence[str]) -> dict[str, Progress]:
        """How far the decodes of these jobs are, as their hosts last wrote it (those written)."""
        rows = await self._rows(
            f"SELECT task_id, progress::json AS p, {NOW} - (progress::json->>'since')::float8 AS running_s "
            "FROM jobs WHERE task_id = ANY(%s) AND progress IS NOT NULL",
            [list(task_ids)],
        )
        now = time.monotonic()
        return {
            row["task_id"]: Progress(
                row["p"]["decoded_s"], row["p"]["duration_s"], now - row["running_s"], row["p"]["stage"]
            )
            for row in rows
        }

    async def release(self, job: Job) -> None:
        """Give a job this host holds back to the queue, pending, for any host to claim."""
        job.status = JobStatus.PENDING
        await self._execute(
            "UPDATE jobs SET status = %s, claimed_by = NULL, lease_until = NULL "
            "WHERE task_id = %s AND claimed_by = %s",
            (job.status.value, job.task_id, self.host),
        )

    async def let_go(self) -> None:
        """Give back this host's claims (it stops), so that other hosts need not wait for the
        leases to run out: those on jobs its decoders had not started are no claims any more;
        those on jobs it was decoding lapse now, so that the next host takes them as interrupted
        (the interrupted-twice rule counts them)."""

        async def give_back(db: Connection) -> None:
            async with db.transaction():
                await db.execute(
                    "UPDATE jobs SET claimed_by = NULL, lease_until = NULL "
                    f"WHERE claimed_by = %s AND {_IS_PENDING}",
                    (self.host,),
                )
                await db.execute(
                    f"UPDATE jobs SET lease_until = 0 WHERE claimed_by = %s AND {_IS_UNFINISHED}",
                    (self.host,),
                )

        await self.db.call(give_back)

    async def standing(self) -> tuple[int, float | None]:
        """How many jobs of every host wait, and when the first in line was uploaded (None while
        none waits): a sum of the queue's block counts and one index probe."""
        rows = await self._rows(
            f"SELECT queue_depth() AS waiting, (SELECT uploaded_at FROM jobs WHERE {_IS_PENDING} "
            "ORDER BY seq LIMIT 1) AS oldest",
            [],
        )
        return int(rows[0]["waiting"]), rows[0]["oldest"]

    async def positions(self, task_ids: Sequence[str]) -> dict[str, int]:
        """The place in the whole queue (0 runs next) of each of the tasks that is pending."""
        if not task_ids:
            return {}
        rows = await self._rows(
            # Each task looked up by its id, whatever plan a prepared statement settles on: not
            # the waiting jobs searched for the tasks.
            "SELECT task_id, queue_position(seq) AS position "
            f"FROM unnest(%s::text[]) AS wanted (task_id) JOIN jobs USING (task_id) WHERE {_IS_PENDING}",
            [list(task_ids)],
        )
        return {row["task_id"]: int(row["position"]) for row in rows}

    async def _select(self, where: str, parameters: Sequence[Any]) -> list[Job]:
        return await self._query(f"SELECT * FROM jobs {where}", parameters)

    async def _query(self, query: str, parameters: Sequence[Any]) -> list[Job]:
        """The jobs a statement returns."""
        return [self._job(row) for row in await self._rows(query, parameters)]

    def _job(self, row: dict[str, Any]) -> Job:
        """The job of a row; with the uploads in the database, its upload where this host keeps it."""
        job = job_from_row(row)
        if self.media is not None:
            job.audio_path = self.media.local_path(job.audio_path)
        return job

    async def _rows(self, query: str, parameters: Sequence[Any]) -> list[dict[str, Any]]:
        return await self.db.rows(query, parameters)

    async def _execute(self, statement: str, parameters: Sequence[Any]) -> None:
        await self.db.execute(statement, parameters)
