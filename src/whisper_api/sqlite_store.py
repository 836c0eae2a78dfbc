"""The embedded job store: one SQLite file (WAL mode) under DATA_DIR.

Every call runs on one dedicated thread, which owns the connection: the event loop never
waits on the disk, and the calls apply in the order they were made.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from decoder.protocol import DecodeOptions
from whisper_api.jobs import Job, JobStatus

T = TypeVar("T")

SCHEMA_VERSION = 2
# Columns added since version 1, for databases written by an older server.
ADDED_IN_2 = (
    "options TEXT NOT NULL DEFAULT '{}'",
    "duration_s REAL",
    "words TEXT NOT NULL DEFAULT '[]'",
    "stats TEXT NOT NULL DEFAULT '[]'",
    "callback_url TEXT",
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL UNIQUE,
    task_type TEXT NOT NULL,
    language TEXT,
    audio_path TEXT NOT NULL,
    original_file_name TEXT NOT NULL,
    uploaded_at REAL NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    target_model_size TEXT,
    used_model_size TEXT,
    used_device TEXT,
    transcript TEXT,
    source_language TEXT,
    segments TEXT NOT NULL,
    error TEXT,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL,
    expires_at REAL,
    cancel_requested INTEGER NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    duration_s REAL,
    words TEXT NOT NULL DEFAULT '[]',
    stats TEXT NOT NULL DEFAULT '[]',
    callback_url TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status);
CREATE INDEX IF NOT EXISTS jobs_by_expiry ON jobs (expires_at);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, seq);
"""
COLUMNS = tuple(f.name for f in fields(Job))
UNFINISHED = (JobStatus.PENDING.value, JobStatus.PROCESSING.value)


class StoreError(Exception):
    """The job database cannot be used (wrong schema version, unreadable file)."""


class SQLiteJobStore:
    def __init__(
        self,
        path: Path,
        *,
        keep_results_s: float,
        refresh_on_use: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._keep_results_s = keep_results_s
        self._refresh_on_use = refresh_on_use
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-store")
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None)
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
            if version == 1:
                for column in ADDED_IN_2:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {column}")
            db.executescript(SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(f"cannot use the job database {self._path}: {exc}") from exc
        self._db = db

    async def close(self) -> None:
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def add(self, job: Job) -> None:
        placeholders = ", ".join("?" for _ in COLUMNS)
        sql = f"INSERT INTO jobs ({', '.join(COLUMNS)}) VALUES ({placeholders})"
        await self._run(self._execute, sql, _row_values(job))

    async def save(self, job: Job) -> None:
        assignments = ", ".join(f"{name} = ?" for name in COLUMNS if name != "task_id")
        values = [value for name, value in zip(COLUMNS, _row_values(job), strict=True) if name != "task_id"]
        await self._run(
            self._execute, f"UPDATE jobs SET {assignments} WHERE task_id = ?", (*values, job.task_id)
        )

    async def finish(self, job: Job) -> None:
        job.expires_at = self._clock() + self._keep_results_s
        await self.save(job)
        await self._run(job.audio_path.unlink, True)

    async def get(self, task_id: str) -> Job | None:
        return await self._run(self._get, task_id)

    def _get(self, task_id: str) -> Job | None:
        row = self._connection().execute("SELECT * FROM jobs WHERE task_id = ?", (task_id,)).fetchone()
        if row is None:
            return None
        job = _job_from_row(row)
        now = self._clock()
        if job.expires_at is not None and job.expires_at <= now:
            self._remove(job)
            return None
        if job.done and self._refresh_on_use:
            job.expires_at = now + self._keep_results_s
            self._execute("UPDATE jobs SET expires_at = ? WHERE task_id = ?", (job.expires_at, task_id))
        return job

    async def unfinished(self) -> list[Job]:
        return await self._run(self._select, "WHERE status IN (?, ?) ORDER BY seq", UNFINISHED)

    async def page(self, owner: str, limit: int, offset: int) -> list[Job]:
        return await self._run(
            self._select, "WHERE owner = ? ORDER BY seq DESC LIMIT ? OFFSET ?", (owner, limit, offset)
        )

    async def remove(self, job: Job) -> None:
        await self._run(self._remove, job)

    def _remove(self, job: Job) -> None:
        self._execute("DELETE FROM jobs WHERE task_id = ?", (job.task_id,))
        job.audio_path.unlink(missing_ok=True)

    async def expire(self) -> int:
        return await self._run(self._expire)

    def _expire(self) -> int:
        expired = self._select("WHERE expires_at <= ?", (self._clock(),))
        for job in expired:
            self._remove(job)
        return len(expired)

    def _select(self, where: str, parameters: tuple[Any, ...]) -> list[Job]:
        rows = self._connection().execute(f"SELECT * FROM jobs {where}", parameters).fetchall()
        return [_job_from_row(row) for row in rows]

    def _execute(self, sql: str, parameters: tuple[Any, ...]) -> None:
        self._connection().execute(sql, parameters)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("the job store is closed")
        return self._db

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)


def _row_values(job: Job) -> tuple[Any, ...]:
    values: dict[str, Any] = {name: getattr(job, name) for name in COLUMNS}
    values["audio_path"] = str(job.audio_path)
    values["status"] = job.status.value
    values["segments"] = json.dumps(job.segments)
    values["cancel_requested"] = int(job.cancel_requested)
    values["options"] = json.dumps(dataclasses.asdict(job.options))
    values["words"] = json.dumps(job.words)
    values["stats"] = json.dumps(job.stats)
    return tuple(values[name] for name in COLUMNS)


def _job_from_row(row: sqlite3.Row) -> Job:
    values = {name: row[name] for name in COLUMNS}
    values["audio_path"] = Path(row["audio_path"])
    values["status"] = JobStatus(row["status"])
    values["segments"] = tuple((float(s), float(e), str(t)) for s, e, t in json.loads(row["segments"]))
    values["cancel_requested"] = bool(row["cancel_requested"])
    values["options"] = DecodeOptions(**json.loads(row["options"]))
    values["words"] = tuple(
        tuple((float(s), float(e), str(w), float(p)) for s, e, w, p in segment)
        for segment in json.loads(row["words"])
    )
    values["stats"] = tuple(
        (int(seek), tuple(tokens), float(t), float(lp), float(cr), float(ns))
        for seek, tokens, t, lp, cr, ns in json.loads(row["stats"])
    )
    return Job(**values)
