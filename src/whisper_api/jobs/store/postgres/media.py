"""Uploads kept in PostgreSQL (MEDIA_STORE=database), so that hosts share nothing but the
database: each upload is a large object, written and read in chunks over a connection of its
own (a large file never whole in memory, and the store's connection free for the calls of
other work meanwhile).

The host that takes an upload writes it in the transaction that inserts its job: a host that
dies, a database that restarts, or an insert that fails leaves no large object behind. A host
that claims the job streams it to its own upload folder, decodes it there and deletes its copy
when the job ends. The large object goes with the job (a trigger, sql/postgres/0005_media.sql):
when the job is deleted or lets go of it at its end.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

import psycopg

from whisper_api.jobs.errors import StoreUnavailable

# How much of an upload one statement carries either way.
CHUNK_BYTES = 1 << 20

MediaConnection = psycopg.AsyncConnection[Any]


class DatabaseMedia:
    def __init__(self, url: str, upload_dir: Path, connect_timeout_s: int) -> None:
        self._url = url
        # Where this host keeps the uploads it takes or decodes, its own.
        self.upload_dir = upload_dir
        self._connect_timeout_s = connect_timeout_s

    def local_path(self, stored: Path) -> Path:
        """Where this host keeps the upload that a job row names."""
        return self.upload_dir / stored.name

    async def store(self, path: Path, insert: Callable[[MediaConnection, int], Awaitable[None]]) -> None:
        """Write the file at `path` as a large object and run `insert` with its oid, in one
        transaction."""

        async def write(db: MediaConnection) -> None:
            async with db.transaction():
                cursor = await db.execute("SELECT lo_create(0)")
                row = await cursor.fetchone()
                assert row is not None
                oid = int(row[0])
                with path.open("rb") as upload:
                    offset = 0
                    while chunk := await asyncio.to_thread(upload.read, CHUNK_BYTES):
                        await db.execute("SELECT lo_put(%s, %s, %s)", (oid, offset, chunk))
                        offset += len(chunk)
                await insert(db, oid)

        await self._on_own_connection(write)

    async def fetch(self, task_id: str, path: Path) -> bool:
        """Stream the job's upload to `path`; False if the job has none in the database."""

        async def read(db: MediaConnection) -> bool:
            cursor = await db.execute("SELECT media_oid FROM jobs WHERE task_id = %s", (task_id,))
            row = await cursor.fetchone()
            if row is None or row[0] is None:
                return False
            partial = path.with_name(f".{path.name}.part")
            try:
                with partial.open("wb") as copy:
                    await _copy_out(db, int(row[0]), copy)
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)
            return True

        return bool(await self._on_own_connection(read))

    async def _on_own_connection(self, work: Callable[[MediaConnection], Awaitable[Any]]) -> Any:
        try:
            async with await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=self._connect_timeout_s
            ) as db:
                return await work(db)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreUnavailable(f"the job database is unreachable: {exc}", full=False) from exc


async def _copy_out(db: MediaConnection, oid: int, copy: BinaryIO) -> None:
    offset = 0
    while True:
        cursor = await db.execute("SELECT lo_get(%s, %s, %s)", (oid, offset, CHUNK_BYTES))
        row = await cursor.fetchone()
        chunk = bytes(row[0]) if row is not None else b""
        if chunk:
            await asyncio.to_thread(copy.write, chunk)
            offset += len(chunk)
        if len(chunk) < CHUNK_BYTES:
            return
