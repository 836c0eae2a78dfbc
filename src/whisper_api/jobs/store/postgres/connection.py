"""The shared store's database: one PostgreSQL connection (DATABASE_URL) that the store's calls
take in turn, its schema, and the hosts' notification channels: one that every host hears, and
one per task that only the hosts asking for it hear (task_channel).

psycopg 3 in its asyncio form, so the event loop never waits on the network. One connection
serves the calls, one at a time and in order. A connection that breaks (the server restarts,
the network goes) makes the call raise StoreUnavailable, and the database counts as failing
(the API answers 503 with Retry-After, /readyz says why) until the next call connects again:
hosts reconnect by themselves. Migrations (sql/postgres/NNNN_*.sql) run in one transaction
under an advisory lock, so that hosts starting together upgrade the database once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Sequence
from importlib import resources
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from whisper_api.jobs.errors import StoreError, StoreUnavailable

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
# A call that takes longer counts as a lost connection (a network cut that TCP has not noticed).
CALL_TIMEOUT_S = 30.0
# The channel the hosts' NOTIFY messages go on.
CHANNEL = "whisper_api"
# The database's clock, in epoch seconds: leases never depend on the hosts' clocks agreeing.
NOW = "extract(epoch FROM clock_timestamp())"

Connection = psycopg.AsyncConnection[dict[str, Any]]


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self._db: Connection | None = None
        self._lock = asyncio.Lock()
        self._failure: str | None = None

    async def open(self) -> None:
        """Connect and bring the schema to this server's version."""
        try:
            await self.call(self._migrate)
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

    async def rows(self, query: str, parameters: Sequence[Any]) -> list[dict[str, Any]]:
        """The rows a statement returns."""

        async def select(db: Connection) -> list[dict[str, Any]]:
            cursor = await db.execute(query.encode(), parameters)
            return await cursor.fetchall()

        return await self.call(select)

    async def execute(self, statement: str, parameters: Sequence[Any]) -> None:
        async def execute(db: Connection) -> None:
            await db.execute(statement.encode(), parameters)

        await self.call(execute)

    async def notify(self, payload: str, channel: str = CHANNEL) -> None:
        await self.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    async def notifications(
        self, tasks: Callable[[], Collection[str]] = frozenset, tasks_changed: asyncio.Event | None = None
    ) -> AsyncGenerator[str, None]:
        """The payloads of every host's NOTIFY on CHANNEL, and on the channels of the `tasks`
        (listened to anew whenever `tasks_changed` is set), on a connection of their own, for as
        long as it lasts (StoreUnavailable when it breaks); "" first, once it listens."""
        changed = tasks_changed or asyncio.Event()
        try:
            async with await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            ) as db:
                await db.execute(f"LISTEN {CHANNEL}")
                listening = await _follow(db, set(), tasks, changed)
                yield ""
                while True:
                    async for payload in _heard_until(db, changed):
                        yield payload
                    listening = await _follow(db, listening, tasks, changed)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreUnavailable(f"the job database is unreachable: {exc}", full=False) from exc

    async def check(self) -> str | None:
        """Whether the database answers now (None) or why not."""
        with contextlib.suppress(StoreUnavailable):
            await self.execute("SELECT 1", ())
        return self.failing

    @property
    def failing(self) -> str | None:
        return self._failure

    async def call(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """Run `work` on the connection, connecting first where there is none; a lost or
        unreachable server becomes StoreUnavailable, and marks the database failing."""
        async with self._lock:
            try:
                async with asyncio.timeout(CALL_TIMEOUT_S):
                    if self._db is None or self._db.closed:
                        self._db = await psycopg.AsyncConnection.connect(
                            self.url,
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


def task_channel(task_id: str) -> str:
    """The channel of one task's news (a task id is 32 hex digits: a valid name as it stands)."""
    return f"{CHANNEL}_{task_id}"


async def _follow(
    db: psycopg.AsyncConnection[Any],
    listening: set[str],
    tasks: Callable[[], Collection[str]],
    changed: asyncio.Event,
) -> set[str]:
    """Listen to the channels of the tasks wanted now and to no other task's; those it listens to."""
    changed.clear()  # a change from now on is seen by the next wait
    wanted = {task_channel(task_id) for task_id in tasks()}
    for channel in wanted - listening:
        await db.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
    for channel in listening - wanted:
        await db.execute(sql.SQL("UNLISTEN {}").format(sql.Identifier(channel)))
    return wanted


async def _heard_until(db: psycopg.AsyncConnection[Any], changed: asyncio.Event) -> AsyncGenerator[str, None]:
    """The payloads that arrive until `changed` is set. Those that arrive while nobody waits for
    them are kept by the connection and come first next time; one that arrives in the instant of
    the change may be lost, which a hint may be."""
    notifies = db.notifies()
    stop = asyncio.ensure_future(changed.wait())
    heard: asyncio.Future[psycopg.Notify] | None = None
    try:
        while True:
            heard = asyncio.ensure_future(anext(notifies))
            await asyncio.wait((heard, stop), return_when=asyncio.FIRST_COMPLETED)
            if not heard.done():
                return
            yield heard.result().payload
    finally:
        # Whether the tasks changed or the listener is cancelled (the host stops): the wait
        # for the next notification ends first, so that the connection is free again.
        stop.cancel()
        if heard is not None and not heard.done():
            heard.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await heard
        await notifies.aclose()
