"""The rows of the hosts that decode (sql/postgres/0004_workers.sql), as each writes its own
and every host reads them all (whisper_api.jobs.tracker.workers)."""

from __future__ import annotations

from whisper_api.jobs.store.postgres.connection import NOW, Database

# How long the row of a host that went silent is kept, for what its decoders announced.
WORKER_ROWS_KEPT_S = 86400


class WorkerRows:
    def __init__(self, db: Database, host: str) -> None:
        self._db = db
        self._host = host

    async def announce(self, decoders: int, busy: int, ready: str | None) -> None:
        """This host decodes: how many decoders take work, how many hold a task, and what they
        announced of their model (JSON); rows of hosts silent for a day go."""
        await self._db.execute(
            f"""
            INSERT INTO workers (host, decoders, busy, ready, seen_at) VALUES (%s, %s, %s, %s, {NOW})
            ON CONFLICT (host) DO UPDATE
            SET decoders = excluded.decoders, busy = excluded.busy, ready = excluded.ready, seen_at = {NOW}
            """,
            (self._host, decoders, busy, ready),
        )
        await self._db.execute(f"DELETE FROM workers WHERE seen_at < {NOW} - %s", (WORKER_ROWS_KEPT_S,))

    async def retire(self) -> None:
        """This host decodes no more (it stops); what it announced stays for the API hosts."""
        await self._db.execute("UPDATE workers SET seen_at = 0, busy = 0 WHERE host = %s", (self._host,))

    async def workers(self, silent_s: float) -> tuple[int, int, int]:
        """The hosts heard from within `silent_s`: how many, and their decoders, busy and all."""
        rows = await self._db.rows(
            "SELECT count(*) AS hosts, coalesce(sum(busy), 0) AS busy, "
            f"coalesce(sum(decoders), 0) AS decoders FROM workers WHERE seen_at > {NOW} - %s",
            [silent_s],
        )
        return int(rows[0]["hosts"]), int(rows[0]["busy"]), int(rows[0]["decoders"])

    async def announced(self) -> str | None:
        """What the decoders heard from last announced of their model (JSON); None if none ever did."""
        rows = await self._db.rows(
            "SELECT ready FROM workers WHERE ready IS NOT NULL ORDER BY seen_at DESC LIMIT 1", []
        )
        return rows[0]["ready"] if rows else None
