"""The seed's task endpoints: upload for transcription or translation, poll, download SRT."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePath
from typing import IO, Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from decoder.protocol import DecoderReady, SubmitTask, TaskType
from whisper_api.decoder_client import DecoderUnavailable
from whisper_api.errors import BadRequest, QueueFull, ServiceUnavailable, TaskNotFound
from whisper_api.jobs import Job, JobStatus, iso_time, new_task_id
from whisper_api.media import NotAudioError, probe_audio
from whisper_api.srt import format_srt
from whisper_api.tracker import TaskTracker


async def transcribe(request: Request) -> Response:
    return await _submit(request, "transcribe")


async def translate(request: Request) -> Response:
    return await _submit(request, "translate")


async def status(request: Request) -> Response:
    job = _job_from_query(request)
    return JSONResponse(task_json(job, request.app.state.tracker))


async def srt(request: Request) -> Response:
    job = _job_from_query(request)
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


def _job_from_query(request: Request) -> Job:
    task_id = request.query_params.get("task_id", "").strip()
    if not task_id:
        raise BadRequest("the query parameter task_id is required")
    job = request.app.state.jobs.get(task_id)
    if job is None:
        raise TaskNotFound("task_id not valid: no such task, or its result has expired")
    return job  # type: ignore[no-any-return]


async def _submit(request: Request, task_type: TaskType) -> Response:
    state = request.app.state
    tracker: TaskTracker = state.tracker
    async with request.form(max_files=1, max_fields=8) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("send the audio or video as the multipart form field 'file'")
        raw_language = form.get("language") or request.query_params.get("language")
        language = check_language(
            raw_language if isinstance(raw_language, str) else None, state.decoder.ready
        )
        if tracker.queued_count() >= state.settings.max_task_queue_size:
            raise QueueFull(
                f"{state.settings.max_task_queue_size} tasks are already waiting; try again later",
                headers={"Retry-After": "30"},
            )
        task_id = new_task_id()
        original_name = PurePath(upload.filename or "upload").name
        audio_path = state.settings.upload_dir / f"{task_id}{PurePath(original_name).suffix[:16]}"
        await run_in_threadpool(_store_checked_upload, upload.file, audio_path)
    job = Job(task_id, task_type, language, audio_path, original_name)
    state.jobs.add(job)
    try:
        state.decoder.submit(SubmitTask(task_id, str(audio_path), task_type, language))
    except DecoderUnavailable as exc:
        state.jobs.remove(job)
        raise ServiceUnavailable(f"the task was not accepted: {exc}") from exc
    return JSONResponse(task_json(job, tracker))


def check_language(raw: str | None, ready: DecoderReady) -> str | None:
    """The language code for a code or English name, None for auto-detection."""
    if raw is None or not raw.strip():
        return None
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


def _store_checked_upload(source: IO[bytes], destination: Path) -> None:
    """Copy the upload to its place and probe it; nothing stays behind if it is not audio."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        with destination.open("wb") as target:
            shutil.copyfileobj(source, target, length=1024 * 1024)
        probe_audio(destination)
    except NotAudioError as exc:
        destination.unlink(missing_ok=True)
        raise BadRequest(str(exc)) from exc
    except BaseException:
        destination.unlink(missing_ok=True)
        raise


def _header_safe(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)


ROUTES = [
    Route("/api/v1/transcribe", transcribe, methods=["POST"]),
    Route("/api/v1/translate", translate, methods=["POST"]),
    Route("/api/v1/status", status, methods=["GET"]),
    Route("/api/v1/srt", srt, methods=["GET"]),
]
