"""Jobs: what the front end knows of every accepted upload, from upload to expiry.

The store lives in memory and is only touched from the event loop thread, so it needs no lock.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path

from decoder.protocol import Segment, TaskType


class JobStatus(str, Enum):
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
    uploaded_at: float = field(default_factory=time.time)
    status: JobStatus = JobStatus.PENDING
    target_model_size: str | None = None
    used_model_size: str | None = None
    used_device: str | None = None
    transcript: str | None = None
    source_language: str | None = None
    segments: tuple[Segment, ...] = ()
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    # Monotonic deadline after which a finished or failed job is deleted.
    expires_at: float | None = None

    @property
    def done(self) -> bool:
        return self.status in (JobStatus.FINISHED, JobStatus.FAILED)


def new_task_id() -> str:
    return uuid.uuid4().hex


def iso_time(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat()


class JobStore:
    def __init__(
        self,
        *,
        keep_results_s: float,
        refresh_on_use: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jobs: dict[str, Job] = {}
        self._keep_results_s = keep_results_s
        self._refresh_on_use = refresh_on_use
        self._clock = clock

    def add(self, job: Job) -> None:
        self._jobs[job.task_id] = job

    def get(self, task_id: str) -> Job | None:
        """The job, unless it has expired (expiry is checked here too, so that a result is never
        served late, whatever RUN_RESULT_EXPIRY_CHECK_M says)."""
        job = self._jobs.get(task_id)
        if job is None:
            return None
        now = self._clock()
        if job.expires_at is not None and job.expires_at <= now:
            self.remove(job)
            return None
        if job.done and self._refresh_on_use:
            job.expires_at = now + self._keep_results_s
        return job

    def pending(self) -> Iterator[Job]:
        return (job for job in self._jobs.values() if job.status is JobStatus.PENDING)

    def finish(self, job: Job) -> None:
        """Mark the job's end: its audio is no longer needed and its result starts to age."""
        job.expires_at = self._clock() + self._keep_results_s
        job.audio_path.unlink(missing_ok=True)

    def expire(self) -> int:
        now = self._clock()
        expired = [job for job in self._jobs.values() if job.expires_at is not None and job.expires_at <= now]
        for job in expired:
            self.remove(job)
        return len(expired)

    def remove(self, job: Job) -> None:
        """Forget the job and delete its audio."""
        del self._jobs[job.task_id]
        job.audio_path.unlink(missing_ok=True)

    def remove_all(self) -> None:
        for job in list(self._jobs.values()):
            self.remove(job)

    def __len__(self) -> int:
        return len(self._jobs)
