"""Accepting an upload as a job: the checks and steps both upload APIs share."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from decoder.wire.helper_pipes import UploadChecked
from decoder.wire.options import DecodeOptions
from decoder.wire.protocol import DecoderReady, SubmitTask, TaskType
from whisper_api.api.errors import PayloadTooLarge, ServiceUnavailable, Unprocessable
from whisper_api.api.middleware.auth import identity_of
from whisper_api.api.state import services
from whisper_api.api.uploads.form import FILE_FORM, UploadForm
from whisper_api.api.uploads.receiving import ReceivedUpload, UploadLimits, receive_upload
from whisper_api.jobs.intake.options import check_channels
from whisper_api.jobs.intake.uploads_index import content_key
from whisper_api.jobs.job import Job, JobStatus, new_task_id

MB = 1024 * 1024

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobRequest:
    """What an API read from the form fields, besides the file."""

    language: str | None
    options: DecodeOptions
    callback_url: str | None = None


# Reads the form fields (query parameters merged in) for the running decoder; raises ApiErrors.
# Why an upload cannot be checked yet: no decoder (of this host, or on an API host of any
# worker) has said what its model can do.
NO_DECODER_YET = "no decoder has announced its model yet (it is starting or restarting); try again shortly"
FieldReader = Callable[[Mapping[str, str], DecoderReady], JobRequest]


async def accept_job(
    request: Request,
    task_type: TaskType,
    read_fields: FieldReader,
    form: UploadForm = FILE_FORM,
    *,
    watch: Callable[[str], object] | None = None,
) -> Job:
    """Store the upload, check it, and queue it as a job. Nothing stays behind on any error.

    `watch` hears the task id before the job can start, so that it misses none of its events."""
    async with services(request).admission.place():
        return await _accept(request, task_type, read_fields, form, watch)


async def _accept(
    request: Request,
    task_type: TaskType,
    read_fields: FieldReader,
    form: UploadForm,
    watch: Callable[[str], object] | None,
) -> Job:
    state = services(request)
    received = await _receive(request, read_fields, form)
    owner = owner_of(request)
    key = content_key(received.upload.sha256, form.reading, task_type, received.wanted)
    try:
        earlier = await state.uploads.earlier(owner, key) if state.uploads else None
    except BaseException:
        # The store could not be asked (a database outage): the upload is refused, and goes.
        received.upload.path.unlink(missing_ok=True)
        raise
    if earlier is not None:
        received.upload.path.unlink(missing_ok=True)
        log.info("task %s is the same upload as task %s: answered with it", received.task_id, earlier.task_id)
        if watch is not None:
            watch(earlier.task_id)
        return earlier
    job = None
    try:
        job = await _queue(request, task_type, received, owner, key, watch)
    finally:
        if state.uploads is not None:
            state.uploads.done(owner, key, job)
    return job


async def _queue(
    request: Request,
    task_type: TaskType,
    received: _Received,
    owner: str,
    key: str,
    watch: Callable[[str], object] | None,
) -> Job:
    """Start, check and submit a new job for the upload."""
    tracker = services(request).tracker
    task_id, upload, wanted = received.task_id, received.upload, received.wanted
    if watch is not None:
        watch(task_id)
    # A free decoder starts while the file is checked (whisper_api.jobs.tracker.head_start).
    early = SubmitTask(task_id, str(upload.path), task_type, wanted.language, wanted.options)
    ahead = tracker.head_starts.start(early, upload.size)
    try:
        probed = await _check(request, upload.path, wanted.options)
        job = Job(
            task_id,
            task_type,
            wanted.language,
            upload.path,
            upload.filename,
            received.at,
            owner,
            options=wanted.options,
            duration_s=probed.duration_s,
            callback_url=wanted.callback_url,
            audio_format=probed.demuxer,
            content_key=key,
        )
        await tracker.submit(job)
        services(request).metrics.tasks_submitted.labels(task_type).inc()
    except BaseException:
        if ahead:
            tracker.head_starts.refuse(task_id)
        upload.path.unlink(missing_ok=True)
        raise
    return job


async def finished_job(request: Request, job: Job) -> Job:
    """The job once it has finished, for the routes that answer with the result itself: a
    cancelled job is a 503 and a failed one a 422, never a 200."""
    ended = await services(request).tracker.wait_for_end(job.task_id)
    if ended is None:
        raise ServiceUnavailable("the task was cancelled before it finished")
    if ended.status is not JobStatus.FINISHED:
        raise Unprocessable(f"decoding failed: {ended.error}")
    return ended


@dataclass(frozen=True)
class CheckedUpload:
    path: Path
    filename: str
    duration_s: float | None
    audio_format: str


async def store_checked_upload(
    request: Request, read_fields: FieldReader, form: UploadForm = FILE_FORM
) -> tuple[str, CheckedUpload, JobRequest]:
    """A new task id, the upload stored under it and probed, and what the fields ask for."""
    received = await _receive(request, read_fields, form)
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


async def _receive(request: Request, read_fields: FieldReader, form: UploadForm) -> _Received:
    """A new task id, the upload stored under it, and what the fields ask for (not yet checked)."""
    state = services(request)
    settings = state.settings
    task_id = new_task_id()
    limits = UploadLimits(
        max_bytes=settings.max_upload_mb * MB,
        idle_timeout_s=settings.upload_timeout_s,
        min_bytes_per_s=settings.min_upload_kib_per_s * 1024,
    )
    upload = await receive_upload(request, settings.upload_dir, task_id, limits, form)
    received_at = time.time()
    state.metrics.upload_bytes.inc(upload.size)
    try:
        ready: DecoderReady | None = state.decoders_ready()
        if ready is None:
            raise ServiceUnavailable(NO_DECODER_YET, headers={"Retry-After": "10"})
        wanted = read_fields({**request.query_params, **upload.fields}, ready)
    except BaseException:
        upload.path.unlink(missing_ok=True)
        raise
    return _Received(task_id, upload, wanted, received_at)


async def _check(request: Request, path: Path, options: DecodeOptions | None = None) -> UploadChecked:
    """The upload check (whisper_api.jobs.intake.media), the duration limit and, for channels=split,
    the channels; raises ApiErrors (and Refused)."""
    probed = await run_in_threadpool(services(request).checker.check, path)
    _check_duration(probed.duration_s, services(request).settings.max_audio_duration_s)
    if options is not None:
        check_channels(options, probed.channels)
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
    return safe_name(PurePath(file_name).stem or "transcript")


def safe_name(name: str) -> str:
    """`name` with what may not stand inside a quoted header value replaced by "_"."""
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
