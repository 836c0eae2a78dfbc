"""The shared job store: PostgreSQL (DATABASE_URL), which several hosts use as one.

psycopg 3 in its asyncio form, so the event loop never waits on the network. One connection
serves the calls, one at a time and in order. A connection that breaks (the server restarts,
the network goes) makes the call raise StoreUnavailable, and the store counts as failing (the
API answers 503 with Retry-After, /readyz says why) until the next call connects again: hosts
reconnect by themselves. Migrations (sql/postgres/NNNN_*.sql) run in one transaction under an
advisory lock, so that hosts starting together upgrade the database once. The expiry sweep
takes another advisory lock, so that one host at a time runs it.

The store is also the hosts' queue (whisper_api.jobs.tracker.sharing uses it): a host claims the oldest
unclaimed pending job (FOR UPDATE SKIP LOCKED, so two hosts never take the same one) with a
lease that it renews while it decodes. A host that disappears stops renewing, and once its
leases run out (the database's clock decides) another host claims its jobs. Writes of a job's
progress are refused (LeaseLost) to a host whose claim another host took over, so a result
decoded twice is stored once. Hosts tell each other of changes with NOTIFY on one channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from importlib import resources
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row

from whisper_api.jobs.errors import LeaseLost, StoreError, StoreUnavailable
from whisper_api.jobs.job import Job, JobStatus, delete_file
from whisper_api.jobs.store.relational import SqlJobStore
from whisper_api.jobs.store.rows import UNFINISHED, job_from_row

__all__ = ["PostgresJobStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_SQL = resources.files("whisper_api.jobs.store") / "sql" / "postgres"
MIGRATIONS = {
    int(entry.name.split("_", 1)[0]): entry.read_text()
    for entry in _SQL.iterdir()
    if entry.name.endswith(".sql")
}
SCHEMA_VERSION = max(MIGRATIONS)
# Keys of the advisory locks: the two halves of a 64-bit key, "whisper-api" and what it guards.
_LOCK_SPACE = 0x77687370
MIGRATION_LOCK = (_LOCK_SPACE, 1)
EXPIRY_LOCK = (_LOCK_SPACE, 2)
CONNECT_TIMEOUT_S = 5
# How long the row of a host that went silent is kept, for what its decoders announced.
WORKER_ROWS_KEPT_S = 86400
# A call that takes longer counts as a lost connection (a network cut that TCP has not noticed).
CALL_TIMEOUT_S = 30.0
# The channel the hosts' NOTIFY messages go on.
CHANNEL = "whisper_api"
# The database's clock, in epoch seconds: leases never depend on the hosts' clocks agreeing.
_NOW = "extract(epoch FROM clock_timestamp())"
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

Connection = psycopg.AsyncConnection[dict[str, Any]]


class PostgresJobStore(SqlJobStore):
    mark = "%s"

    def __init__(
        self,
        url: str,
        *,
        host: str,
        keep_results_s: float,
        refresh_on_use: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(keep_results_s=keep_results_s, refresh_on_use=refresh_on_use, clock=clock)
        self._url = url
        # Who claims jobs, in claimed_by: unique to this server process.
        self.host = host
        self._db: Connection | None = None
        self._lock = asyncio.Lock()
        self._failure: str | None = None

    async def open(self) -> None:
        try:
            await self._call(self._migrate)
        except StoreUnavailable as exc:
            raise StoreError(f"cannot reach the job database: {exc}") from exc
        except StoreError:
            await self.close()  # a store that cannot open holds no connection
            raise

    async def _migrate(self, db: Connection) -> None:
        async with db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock(%s, %s)", MIGRATION_LOCK)
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            rows = await (await db.execute("SELECT version FROM schema_migrations")).fetchall()
            applied = {row["version"] for row in rows}
            if max(applied, default=0) > SCHEMA_VERSION:
                raise StoreError(
                    f"the job database has schema version {max(applied)}; this server knows {SCHEMA_VERSION}"
                )
            for version in sorted(set(MIGRATIONS) - applied):
                log.info("upgrading the job database to schema version %d", version)
                await db.execute(MIGRATIONS[version].encode())
                await db.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))

    async def close(self) -> None:
        async with self._lock:
            if self._db is not None:
                await self._db.close()
                self._db = None

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

        holder = await self._call(write)
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
                return [job_from_row(row) for row in await cursor.fetchall()]

        expired = await self._call(sweep)
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
                UPDATE jobs SET claimed_by = %s, lease_until = {_NOW} + %s
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
            f"UPDATE jobs SET lease_until = {_NOW} + %s WHERE claimed_by = %s AND task_id = ANY(%s)",
            (lease_s, self.host, list(task_ids)),
        )

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

        await self._call(give_back)

    async def announce(self, decoders: int, busy: int, ready: str | None) -> None:
        """This host decodes: how many decoders take work, how many hold a task, and what they
        announced of their model (JSON); rows of hosts silent for a day go."""
        await self._execute(
            f"""
            INSERT INTO workers (host, decoders, busy, ready, seen_at) VALUES (%s, %s, %s, %s, {_NOW})
            ON CONFLICT (host) DO UPDATE
            SET decoders = excluded.decoders, busy = excluded.busy, ready = excluded.ready, seen_at = {_NOW}
            """,
            (self.host, decoders, busy, ready),
        )
        await self._execute(f"DELETE FROM workers WHERE seen_at < {_NOW} - %s", (WORKER_ROWS_KEPT_S,))

    async def retire(self) -> None:
        """This host decodes no more (it stops); what it announced stays for the API hosts."""
        await self._execute("UPDATE workers SET seen_at = 0, busy = 0 WHERE host = %s", (self.host,))

    async def workers(self, silent_s: float) -> tuple[int, int, int]:
        """The hosts heard from within `silent_s`: how many, and their decoders, busy and all."""
        rows = await self._rows(
            "SELECT count(*) AS hosts, coalesce(sum(busy), 0) AS busy, "
            f"coalesce(sum(decoders), 0) AS decoders FROM workers WHERE seen_at > {_NOW} - %s",
            [silent_s],
        )
        return int(rows[0]["hosts"]), int(rows[0]["busy"]), int(rows[0]["decoders"])

    async def announced(self) -> str | None:
        """What the decoders heard from last announced of their model (JSON); None if none ever did."""
        rows = await self._rows(
            "SELECT ready FROM workers WHERE ready IS NOT NULL ORDER BY seen_at DESC LIMIT 1", []
        )
        return rows[0]["ready"] if rows else None

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

    async def notify(self, payload: str) -> None:
        await self._execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

    async def notifications(self) -> AsyncGenerator[str, None]:
        """The payloads of every host's NOTIFY, on a connection of their own, for as long as it
        lasts (StoreUnavailable when it breaks); "" first, once it listens."""
        try:
            async with await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            ) as db:
                await db.execute(f"LISTEN {CHANNEL}")
                yield ""
                async for notification in db.notifies():
                    yield notification.payload
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreUnavailable(f"the job database is unreachable: {exc}", full=False) from exc

    async def check(self) -> str | None:
        """Whether the database answers now (None) or why not."""
        with contextlib.suppress(StoreUnavailable):
            await self._execute("SELECT 1", ())
        return self.failing

    @property
    def failing(self) -> str | None:
        return self._failure

    async def _select(self, where: str, parameters: Sequence[Any]) -> list[Job]:
        return await self._query(f"SELECT * FROM jobs {where}", parameters)

    async def _query(self, query: str, parameters: Sequence[Any]) -> list[Job]:
        """The jobs a statement returns."""
        return [job_from_row(row) for row in await self._rows(query, parameters)]

    async def _rows(self, query: str, parameters: Sequence[Any]) -> list[dict[str, Any]]:
        async def select(db: Connection) -> list[dict[str, Any]]:
            cursor = await db.execute(query.encode(), parameters)
            return await cursor.fetchall()

        return await self._call(select)

    async def _execute(self, statement: str, parameters: Sequence[Any]) -> None:
        async def execute(db: Connection) -> None:
            await db.execute(statement.encode(), parameters)

        await self._call(execute)

    async def _call(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """Run `work` on the connection, connecting first where there is none; a lost or
        unreachable server becomes StoreUnavailable, and marks the store failing."""
        async with self._lock:
            try:
                async with asyncio.timeout(CALL_TIMEOUT_S):
                    if self._db is None or self._db.closed:
                        self._db = await psycopg.AsyncConnection.connect(
                            self._url,
                            autocommit=True,
                            row_factory=dict_row,
                            connect_timeout=CONNECT_TIMEOUT_S,
                        )
                    result = await work(self._db)
            except (psycopg.OperationalError, psycopg.InterfaceError, TimeoutError) as exc:
                await self._lose_connection()
                reason = f"the job database is unreachable: {str(exc).strip() or type(exc).__name__}"
                if self._failure is None:
                    log.error("%s", reason)
                self._failure = reason
                raise StoreUnavailable(reason, full=False) from exc
            if self._failure is not None:
                log.warning("the job database answers again")
                self._failure = None
            return result

    async def _lose_connection(self) -> None:
        if self._db is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await self._db.close()
            self._db = None
