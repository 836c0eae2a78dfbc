"""The JSON a client sees of a job: in status answers, task lists, events and callbacks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from decoder.wire.transcript import Transcript
from whisper_api.jobs.job import Job, JobStatus, iso_time
from whisper_api.jobs.progress import Progress
from whisper_api.outputs.formats import languages_json


class QueueView(Protocol):
    """What a view needs to know of the queue beyond the job (whisper_api.jobs.dispatch.queue's JobQueue)."""

    def position(self, job: Job) -> int | None: ...

    def progress(self, task_id: str) -> Progress | None: ...


class Standing(QueueView, Protocol):
    """Where the queue stands, as clients, the queue limit and the metrics see it: the host's
    JobQueue where the host has the queue to itself, else the cluster's
    (whisper_api.jobs.tracker.standing), which the database knows and the host asks for."""

    async def locate(self, jobs: Sequence[Job]) -> None:
        """Make sure position() knows where these jobs are now."""

    def waiting_positions(self) -> Iterable[tuple[str, int]]:
        """The waiting jobs whose watchers are told when the queue moves, and their places."""

    def count(self) -> int:
        """How many jobs wait, as last known (for /metrics and the decoders' status)."""

    async def counted(self) -> int:
        """How many jobs wait now: the queue length that MAX_TASK_QUEUE_SIZE limits."""

    def oldest_upload(self) -> float | None:
        """When the job first in line was uploaded (epoch seconds); None while nothing waits."""


def task_json(job: Job, queue: QueueView) -> dict[str, Any]:
    duration = None
    if job.started_at is not None and job.finished_at is not None:
        duration = round(job.finished_at - job.started_at, 2)
    progress, eta_s = progress_of(job, queue)
    return {
        "task_id": job.task_id,
        "status": job.status.value,
        "task_type": job.task_type,
        "original_file_name": job.original_file_name,
        "language": job.language,
        "position_in_queue": queue.position(job),
        "progress": progress,
        "eta_s": eta_s,
        "time_uploaded": iso_time(job.uploaded_at),
        "time_processing_started": iso_time(job.started_at),
        "time_processing_finished": iso_time(job.finished_at),
        "processing_duration": duration,
        "audio_duration": job.duration_s,
        "transcript": job.result.text if job.result else None,
        "source_language": job.result.language if job.result else None,
        "languages": languages_json(job.result) if job.result else None,
        "target_model_size": job.target_model_size,
        "used_model_size": job.used_model_size,
        "used_device": job.used_device,
        "error": job.error,
        "stage": stage_of(job, queue),
    }


def progress_of(job: Job, queue: QueueView) -> tuple[float, float | None]:
    """The share of the audio decoded (0-1), and the seconds still needed where known."""
    if job.done:
        return 1.0, 0.0
    report = queue.progress(job.task_id)
    if job.status is not JobStatus.PROCESSING or report is None:
        return 0.0, None
    return report.fraction, report.eta_s


def stage_of(job: Job, queue: QueueView) -> str | None:
    """What a processing job's decoder is doing (transcribing, diarizing), where it has said."""
    report = queue.progress(job.task_id)
    return report.stage if job.status is JobStatus.PROCESSING and report is not None else None


def transcript_of(job: Job) -> Transcript:
    """A finished job's result, as the output formats take it."""
    return job.result or Transcript(text="", language="", duration_s=job.duration_s or 0.0, segments=())
