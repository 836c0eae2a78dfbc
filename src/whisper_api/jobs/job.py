"""Jobs: what the front end knows of every accepted upload, from upload to expiry, and the
interface of the store that keeps them.

    JobStore (Protocol)          one small async interface
    ├── SQLiteJobStore           the embedded default (whisper_api.jobs.store.sqlite)
    ├── PostgresJobStore         DATABASE_URL, for several hosts (whisper_api.jobs.store.postgres)
    └── MemoryJobStore           in memory, for unit tests (whisper_api.jobs.store.memory)

Their errors are StoreError and StoreUnavailable (whisper_api.jobs.errors).
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from decoder.wire.options import DecodeOptions
from decoder.wire.protocol import TaskType
from decoder.wire.transcript import Transcript

log = logging.getLogger(__name__)

TASK_ID_FORMAT = re.compile(r"^[0-9a-f]{32}$")


def delete_file(path: Path) -> None:
    """Delete a job's file; where the disk refuses, the next start removes it as an orphan."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not delete %s: %s", path.name, exc.strerror)


def remove_files_except(directory: Path, keep: set[str]) -> None:
    """Delete every file in `directory` whose name is not in `keep` (orphaned uploads)."""
    for path in directory.iterdir():
        if path.name not in keep:
            log.info("removing orphaned upload %s", path.name)
            path.unlink(missing_ok=True)


def fsync_path(path: Path) -> None:
    """Flush a file, or a directory's entries, to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass
class Job:
    task_id: str
    task_type: TaskType
    language: str | None
    audio_path: Path
    original_file_name: str
    uploaded_at: float
    # Who uploaded it, as the authenticating proxy said (X-Email or X-User); "" if nobody.
    owner: str = ""
    status: JobStatus = JobStatus.PENDING
    target_model_size: str | None = None
    used_model_size: str | None = None
    used_device: str | None = None
    # What decoding gave, once the job has finished.
    result: Transcript | None = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    # How often a decoder started this job; a second crash on it fails the job.
    attempts: int = 0
    # Wall-clock time after which a finished or failed job is deleted; it survives restarts.
    expires_at: float | None = None
    # Set by DELETE while the job decodes: its result is dropped once the decoder is done.
    cancel_requested: bool = field(default=False)
    options: DecodeOptions = field(default_factory=DecodeOptions)
    # The audio's length: the upload check's figure, then the decoder's.
    duration_s: float | None = None
    # Where to POST the final status when the job ends.
    callback_url: str | None = None
    # The upload's container format as the upload check found it; the decoder pins it.
    audio_format: str | None = None
    # The upload's bytes and request, hashed (whisper_api.jobs.intake.uploads_index); None: not indexed.
    content_key: str | None = None

    @property
    def done(self) -> bool:
        return self.status in (JobStatus.FINISHED, JobStatus.FAILED)


def new_task_id() -> str:
    return uuid.uuid4().hex


def iso_time(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


class JobStore(Protocol):
    """Durable job records. Implementations keep the HTTP event loop free of blocking I/O."""

    async def open(self) -> None:
        """Connect, and bring the schema to this release's version; StoreError if it cannot."""

    async def check(self) -> str | None:
        """Whether the store takes writes now (None) or why not; run every few seconds."""

    @property
    def failing(self) -> str | None:
        """Why the store cannot take writes now (None while it can), for /readyz."""

    async def add(self, job: Job) -> None:
        """Record a new job; it is durable when this returns."""

    async def save(self, job: Job) -> None:
        """Write every field of an existing job."""

    async def save_result(self, job: Job) -> None:
        """Write a finished job's result alone (its speakers renamed), whichever host decoded it."""

    async def request_cancel(self, job: Job) -> None:
        """Mark a decoding job as cancelled (`cancel_requested`), whichever host decodes it."""

    async def finish(self, job: Job) -> None:
        """Save a job that just ended: its result starts to age and its audio is deleted."""

    async def get(self, task_id: str, owner: str | None = None) -> Job | None:
        """The job, or None if unknown, expired (an expired one is deleted on the spot), or, with
        `owner`, someone else's. Reading a finished job restarts its lifetime when the store
        refreshes on use."""

    async def unfinished(self) -> list[Job]:
        """Pending and processing jobs, in upload order."""

    async def same_upload(self, owner: str, content_key: str) -> Job | None:
        """The owner's newest job with this content key that is pending, processing or
        finished (not failed, cancelled or expired)."""

    async def page(self, owner: str, limit: int, offset: int) -> list[Job]:
        """The owner's jobs, newest first."""

    async def remove(self, job: Job) -> None:
        """Delete the job's record and every file of it."""

    async def expire(self) -> int:
        """Delete every expired job; returns how many."""

    async def close(self) -> None:
        """Finish pending writes and release the store."""
