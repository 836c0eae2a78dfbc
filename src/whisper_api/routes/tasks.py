"""The seed's task endpoints: upload for transcription or translation, poll, download SRT."""

from __future__ import annotations

import time
from pathlib import PurePath
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from decoder.protocol import DecoderReady, TaskType
from whisper_api.errors import BadRequest, QueueFull, ServiceUnavailable, TaskNotFound
from whisper_api.jobs import TASK_ID_FORMAT, Job, JobStatus, iso_time, new_task_id
from whisper_api.media import NotAudioError, probe_audio
from whisper_api.routes.account import owner_of
from whisper_api.srt import format_srt
from whisper_api.tracker import TaskTracker
from whisper_api.uploads import receive_upload

MB = 1024 * 1024


async def transcribe(request: Request) -> Response:
    return await _submit(request, "transcribe")


async def translate(request: Request) -> Response:
    return await _submit(request, "translate")


async def status(request: Request) -> Response:
    job = await find_job(request, request.query_params.get("task_id", ""))
    return JSONResponse(task_json(job, request.app.state.tracker))


async def srt(request: Request) -> Response:
    job = await find_job(request, request.query_params.get("task_id", ""))
    if job.status is not JobStatus.FINISHED:
        raise BadRequest(f"the task is {job.status.value}; subtitles exist once it is finished")
    name = PurePath(job.original_file_name).stem or "transcript"
    return Response(
        format_srt(job.segments),
        media_type="application/x-subrip",
        headers={"Content-Disposition": f'attachment; filename="{_header_safe(name)}.srt"'},
    )


def task_json(job: Job, tracker: TaskTracker) -> dict[str, Any]:
    duration = None
    if job.started_at is not None and job.finished_at is not None:
        duration = round(job.finished_at - job.started_at, 2)
    return {
        "task_id": job.task_id,
        "status": job.status.value,
        "task_type": job.task_type,
        "original_file_name": job.original_file_name,
        "language": job.language,
        "position_in_queue": tracker.position(job),
        "time_uploaded": iso_time(job.uploaded_at),
        "time_processing_started": iso_time(job.started_at),
        "time_processing_finished": iso_time(job.finished_at),
        "processing_duration": duration,
        "transcript": job.transcript,
        "source_language": job.source_language,
        "target_model_size": job.target_model_size,
        "used_model_size": job.used_model_size,
        "used_device": job.used_device,
        "error": job.error,
    }


async def find_job(request: Request, raw_task_id: str) -> Job:
    task_id = raw_task_id.strip()
    if not task_id:
        raise BadRequest("the query parameter task_id is required")
    if not TASK_ID_FORMAT.match(task_id):
        raise BadRequest("malformed task_id: expected 32 lowercase hexadecimal characters")
    job: Job | None = await request.app.state.store.get(task_id)
    if job is None:
        raise TaskNotFound("task_id not valid: no such task, or its result has expired")
    return job


async def _submit(request: Request, task_type: TaskType) -> Response:
    state = request.app.state
    tracker: TaskTracker = state.tracker
    if state.draining:
        raise ServiceUnavailable(
            "the server is shutting down; try again shortly", headers={"Retry-After": "30"}
        )
    # Checked before the body is read, so that a refused upload costs no disk and no time.
    if tracker.waiting_count() >= state.settings.max_task_queue_size:
        raise QueueFull(
            f"{state.settings.max_task_queue_size} tasks are already waiting; try again later",
            headers={"Retry-After": "30"},
        )
    task_id = new_task_id()
    upload = await receive_upload(
        request, state.settings.upload_dir, task_id, state.settings.max_upload_mb * MB
    )
    try:
        raw_language = upload.fields.get("language") or request.query_params.get("language")
        language = check_language(raw_language, state.decoder.ready)
        try:
            await run_in_threadpool(probe_audio, upload.path)
        except NotAudioError as exc:
            raise BadRequest(str(exc)) from exc
        job = Job(task_id, task_type, language, upload.path, upload.filename, time.time(), owner_of(request))
        await tracker.submit(job)
    except BaseException:
        upload.path.unlink(missing_ok=True)
        raise
    return JSONResponse(task_json(job, tracker))


def check_language(raw: str | None, ready: DecoderReady | None) -> str | None:
    """The language code for a code or English name, None for auto-detection."""
    if raw is None or not raw.strip():
        return None
    if ready is None:
        raise ServiceUnavailable(
            "the decoder is restarting; try again shortly", headers={"Retry-After": "10"}
        )
    wanted = raw.strip().lower()
    names = {name: code for code, name in ready.languages}
    code = wanted if wanted in dict(ready.languages) else names.get(wanted)
    if code is None:
        raise BadRequest(f"unknown language {raw!r}: use a code such as 'en' or 'de', or leave it out")
    if ready.english_only and code != "en":
        raise BadRequest(
            f"the model {ready.max_model_to_use} is English-only: language {code!r} needs a "
            "multilingual model (set MAX_MODEL to a name without '.en')"
        )
    return code


def _header_safe(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)


ROUTES = [
    Route("/api/v1/transcribe", transcribe, methods=["POST"]),
    Route("/api/v1/translate", translate, methods=["POST"]),
    Route("/api/v1/status", status, methods=["GET"]),
    Route("/api/v1/srt", srt, methods=["GET"]),
]
