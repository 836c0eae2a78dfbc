"""Accepting an upload as a job: the checks and steps both upload APIs share."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from decoder.protocol import DecodeOptions, DecoderReady, SubmitTask, TaskType
from whisper_api.api.auth import identity_of
from whisper_api.api.errors import PayloadTooLarge, ServiceUnavailable
from whisper_api.api.state import services
from whisper_api.api.uploads import ReceivedUpload, UploadLimits, receive_upload
from whisper_api.jobs.job import Job, new_task_id
from whisper_api.jobs.media import ProbedAudio, probe_audio

MB = 1024 * 1024


@dataclass(frozen=True)
class JobRequest:
    """What an API read from the form fields, besides the file."""

    language: str | None
    options: DecodeOptions
    callback_url: str | None = None


# Reads the form fields (query parameters merged in) for the running decoder; raises ApiErrors.
FieldReader = Callable[[Mapping[str, str], DecoderReady], JobRequest]


async def accept_job(request: Request, task_type: TaskType, read_fields: FieldReader) -> Job:
    """Store the upload, check it, and queue it as a job. Nothing stays behind on any error."""
    with services(request).admission.place():
        return await _accept(request, task_type, read_fields)


async def _accept(request: Request, task_type: TaskType, read_fields: FieldReader) -> Job:
    tracker = services(request).tracker
    received = await _receive(request, read_fields)
    task_id, upload, wanted = received.task_id, received.upload, received.wanted
    # A free decoder starts while the file is checked (whisper_api.jobs.head_start).
    early = SubmitTask(task_id, str(upload.path), task_type, wanted.language, wanted.options)
    ahead = tracker.start_ahead(early, upload.size)
    try:
        probed = await _check(request, upload.path)
        job = Job(
            task_id,
            task_type,
            wanted.language,
            upload.path,
            upload.filename,
            received.at,
            owner_of(request),
            options=wanted.options,
            duration_s=probed.duration_s,
            callback_url=wanted.callback_url,
            audio_format=probed.demuxer,
        )
        await tracker.submit(job)
        services(request).metrics.tasks_submitted.labels(task_type).inc()
    except BaseException:
        if ahead:
            tracker.refuse(task_id)
        upload.path.unlink(missing_ok=True)
        raise
    return job


@dataclass(frozen=True)
class CheckedUpload:
    path: Path
    filename: str
    duration_s: float | None
    audio_format: str


async def store_checked_upload(
    request: Request, read_fields: FieldReader
) -> tuple[str, CheckedUpload, JobRequest]:
    """A new task id, the upload stored under it and probed, and what the fields ask for."""
    received = await _receive(request, read_fields)
    upload = received.upload
    try:
        probed = await _check(request, upload.path)
    except BaseException:
        upload.path.unlink(missing_ok=True)
        raise
    checked = CheckedUpload(upload.path, upload.filename, probed.duration_s, probed.demuxer)
    return received.task_id, checked, received.wanted


@dataclass(frozen=True)
class _Received:
    task_id: str
    upload: ReceivedUpload
    wanted: JobRequest
    # When the upload was in (a Unix time).
    at: float


async def _receive(request: Request, read_fields: FieldReader) -> _Received:
    """A new task id, the upload stored under it, and what the fields ask for (not yet checked)."""
    state = services(request)
    settings = state.settings
    task_id = new_task_id()
    limits = UploadLimits(
        max_bytes=settings.max_upload_mb * MB,
        idle_timeout_s=settings.upload_timeout_s,
        min_bytes_per_s=settings.min_upload_kib_per_s * 1024,
    )
    upload = await receive_upload(request, settings.upload_dir, task_id, limits)
    received_at = time.time()
    state.metrics.upload_bytes.inc(upload.size)
    try:
        ready: DecoderReady | None = state.pool.ready
        if ready is None:
            raise ServiceUnavailable(
                "the decoder is restarting; try again shortly", headers={"Retry-After": "10"}
            )
        wanted = read_fields({**request.query_params, **upload.fields}, ready)
    except BaseException:
        upload.path.unlink(missing_ok=True)
        raise
    return _Received(task_id, upload, wanted, received_at)


async def _check(request: Request, path: Path) -> ProbedAudio:
    """The upload check (whisper_api.jobs.media) and the duration limit; raises ApiErrors."""
    probed = await run_in_threadpool(probe_audio, path)
    _check_duration(probed.duration_s, services(request).settings.max_audio_duration_s)
    return probed


def _check_duration(duration_s: float | None, limit_s: int) -> None:
    if limit_s and duration_s is not None and duration_s > limit_s:
        raise PayloadTooLarge(
            f"the audio is {duration_s:.0f} s long, over the limit of {limit_s} s (MAX_AUDIO_DURATION_S)"
        )


def owner_of(request: Request) -> str:
    """Whose tasks the caller's are: their API key's, their proxy user's, or nobody's ("")."""
    return identity_of(request).owner


def safe_stem(file_name: str) -> str:
    """A download name derived from the upload's name, safe inside a quoted header value."""
    stem = PurePath(file_name).stem or "transcript"
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in stem)
