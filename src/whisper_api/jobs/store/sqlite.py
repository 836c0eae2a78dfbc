"""The embedded job store: one SQLite file (WAL mode) under DATA_DIR.

Every call runs on one dedicated thread, which owns the connection: the event loop never
waits on the disk, and the calls apply in the order they were made. A write the disk refuses
(full, read-only, failing) raises StoreUnavailable and marks the store as failing until a write
works again; the file itself is watched, so that deleting it while the server runs loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from whisper_api.jobs.errors import StoreError, StoreUnavailable, storage_failure
from whisper_api.jobs.job import Job, delete_file, fsync_path
from whisper_api.jobs.store.relational import SqlJobStore
from whisper_api.jobs.store.rows import job_from_row

__all__ = ["SQLiteJobStore", "StoreError", "StoreUnavailable"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# The schema lives in sql/: schema.sql creates a new file, migrations/NNNN_*.sql bring an older
# one forward, one version at a time, and the newest migration's number is the schema version.
_SQL = resources.files("whisper_api.jobs.store") / "sql"
SCHEMA = (_SQL / "schema.sql").read_text()
MIGRATIONS = {
    int(entry.name.split("_", 1)[0]): entry.read_text()
    for entry in (_SQL / "migrations").iterdir()
    if entry.name.endswith(".sql")
}
SCHEMA_VERSION = max(MIGRATIONS)

# Below this much free space in DATA_DIR the store counts as failing, before a write fails.
MIN_FREE_BYTES = 1024 * 1024
# SQLite's word for a disk that has no room left.
_FAILURE_CODES_FULL = ("SQLITE_FULL",)


class SQLiteJobStore(SqlJobStore):
    mark = "?"

    def __init__(
        self,
        path: Path,
        *,
        keep_results_s: float,
        refresh_on_use: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(keep_results_s=keep_results_s, refresh_on_use=refresh_on_use, clock=clock)
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-store")
        self._db: sqlite3.Connection | None = None
        # (device, inode) of the file opened, to notice it deleted or replaced while running.
        self._identity: tuple[int, int] | None = None
        # Why the last write failed; None while writes work.
        self._write_failure: str | None = None
        # Set by check() while DATA_DIR has less than MIN_FREE_BYTES free.
        self._low_space: str | None = None

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self._path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the job database {self._path}: {exc}") from None
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: an accepted job survives a power cut, not only a crash of this process.
            db.execute("PRAGMA synchronous=FULL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self._path} has schema version {version}; this server knows {SCHEMA_VERSION}"
                )
            problem = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if problem != "ok":
                raise sqlite3.DatabaseError(problem)
            # Version 0 is a new file, which SCHEMA creates whole.
            for step in range(version + 1, SCHEMA_VERSION + 1) if version else ():
                _migrate(db, step)
            db.executescript(SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(
                f"cannot use the job database {self._path}: {exc} (restore it from a backup, or move "
                "it away to start with an empty one)"
            ) from None
        except StoreError:
            db.close()
            raise
        self._db = db
        status = os.stat(self._path)
        self._identity = (status.st_dev, status.st_ino)

    async def close(self) -> None:
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def expire(self) -> int:
        return await self._run(self._expire)

    def _expire(self) -> int:
        expired = self._select_now("WHERE expires_at <= ?", (self._clock(),))
        for job in expired:
            self._write("DELETE FROM jobs WHERE task_id = ?", (job.task_id,))
            delete_file(job.audio_path)
        return len(expired)

    async def check(self) -> str | None:
        """Whether the store can be written now (None) or why not; run it every few seconds.

        A database file deleted while the server runs is written again from the open copy; one
        replaced by another file is refused until a restart. After a failed write, a small write
        tells whether the disk takes them again.
        """
        return await self._run(self._check)

    def _check(self) -> str | None:
        with contextlib.suppress(StoreUnavailable):
            self._check_file()
            if self._write_failure is not None:
                self._write(f"PRAGMA user_version={SCHEMA_VERSION}", ())
        try:
            space = os.statvfs(self._path.parent)
            free = space.f_bavail * space.f_frsize
        except OSError:
            free = MIN_FREE_BYTES
        self._low_space = f"DATA_DIR has only {free // 1024} KiB free" if free < MIN_FREE_BYTES else None
        return self.failing

    @property
    def failing(self) -> str | None:
        """Why the store cannot take writes now (None while it can), for /readyz."""
        return self._write_failure or self._low_space

    async def _select(self, where: str, parameters: Sequence[Any]) -> list[Job]:
        return await self._run(self._select_now, where, parameters)

    def _select_now(self, where: str, parameters: Sequence[Any]) -> list[Job]:
        rows = self._connection().execute(f"SELECT * FROM jobs {where}", parameters).fetchall()
        return [job_from_row(row) for row in rows]

    async def _execute(self, statement: str, parameters: Sequence[Any]) -> None:
        await self._run(self._write, statement, parameters)

    def _write(self, sql: str, parameters: Sequence[Any]) -> None:
        """Run one write; a failure the disk causes becomes StoreUnavailable, and sets `failing`."""
        try:
            self._check_file()
            self._connection().execute(sql, parameters)
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
            raise  # a bug, not the disk: retrying would not help
        except sqlite3.DatabaseError as exc:
            full = exc.sqlite_errorname in _FAILURE_CODES_FULL
            self._failed(StoreUnavailable(f"the job database cannot be written: {exc}", full=full))
        except OSError as exc:
            self._failed(storage_failure(exc))
        except StoreUnavailable as exc:
            self._failed(exc)
        if self._write_failure is not None:
            log.warning("the job database takes writes again")
            self._write_failure = None

    def _failed(self, error: StoreUnavailable) -> NoReturn:
        if self._write_failure is None:
            log.error("%s", error)
        self._write_failure = str(error)
        raise error

    def _check_file(self) -> None:
        try:
            status = os.stat(self._path)
        except FileNotFoundError:
            try:
                self._write_again()
            except (OSError, sqlite3.Error, StoreError) as exc:
                raise StoreUnavailable(
                    f"the job database {self._path} was deleted, and writing it again failed: {exc}",
                    full=isinstance(exc, OSError) and storage_failure(exc).full,
                ) from exc
            return
        if (status.st_dev, status.st_ino) != self._identity:
            raise StoreUnavailable(
                f"the job database {self._path} was replaced by another file while the server ran; "
                "restart the server to use the new one",
                full=False,
            )

    def _write_again(self) -> None:
        """The file was deleted under the open connection: copy the open database to its path."""
        log.error("the job database %s was deleted while the server ran; writing it again", self._path)
        db = self._connection()
        restored = self._path.with_name(f"{self._path.name}.restore")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        copy = sqlite3.connect(restored)
        try:
            db.backup(copy)
        finally:
            copy.close()
        fsync_path(restored)
        # Closing the old connection removes the WAL files by name, so it goes before the rename.
        db.close()
        self._db = None
        os.replace(restored, self._path)
        fsync_path(self._path.parent)
        self._open()

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("the job store is closed")
        return self._db

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Run one migration and record its version, all or nothing."""
    log.info("upgrading the job database to schema version %d", version)
    db.executescript(f"BEGIN IMMEDIATE;\n{MIGRATIONS[version]}\nPRAGMA user_version={version};\nCOMMIT;")
