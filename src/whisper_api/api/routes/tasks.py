"""The seed's task endpoints: upload for transcription or translation, poll, download SRT."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from decoder.wire.protocol import DecoderReady, TaskType
from whisper_api.api.errors import BadRequest, TaskMissing, TaskNotFound
from whisper_api.api.state import services
from whisper_api.api.submission import JobRequest, accept_job, owner_of, safe_stem
from whisper_api.jobs.intake.options import check_language, decode_options
from whisper_api.jobs.job import TASK_ID_FORMAT, Job, JobStatus
from whisper_api.jobs.news.webhooks import check_callback_url
from whisper_api.jobs.views import task_json, transcript_of
from whisper_api.outputs.formats import render
from whisper_api.outputs.subtitles.style import style_from


async def transcribe(request: Request) -> Response:
    return await _submit(request, "transcribe")


async def translate(request: Request) -> Response:
    return await _submit(request, "translate")


async def status(request: Request) -> Response:
    job = await find_job(request, request.query_params.get("task_id", ""))
    return JSONResponse(task_json(job, services(request).standing))


async def srt(request: Request) -> Response:
    job = await find_job(request, request.query_params.get("task_id", ""))
    if job.status is not JobStatus.FINISHED:
        raise BadRequest(f"the task is {job.status.value}; subtitles exist once it is finished")
    return Response(
        render(transcript_of(job), "srt", style_from(request.query_params)),
        media_type="application/x-subrip",
        headers={"Content-Disposition": f'attachment; filename="{safe_stem(job.original_file_name)}.srt"'},
    )


async def find_job(request: Request, raw_task_id: str, *, by_path: bool = False) -> Job:
    """The caller's job. Another owner's job is reported exactly like an unknown one: 400 on the
    seed's query routes (its clients expect that), 404 on /api/v1/tasks/{task_id}. The store
    looks it up by id and owner together, so that another's task costs what an unknown one does
    and its read changes nothing (no refreshed lifetime)."""
    task_id = raw_task_id.strip()
    if not task_id:
        raise BadRequest("the query parameter task_id is required")
    if not TASK_ID_FORMAT.match(task_id):
        raise BadRequest("malformed task_id: expected 32 lowercase hexadecimal characters")
    job: Job | None = await services(request).store.get(task_id, owner_of(request))
    if job is None:
        message = "task_id not valid: no such task, or its result has expired"
        raise TaskMissing(message) if by_path else TaskNotFound(message)
    await services(request).standing.locate([job])
    return job


async def _submit(request: Request, task_type: TaskType) -> Response:
    settings = services(request).settings

    def read_fields(fields: Mapping[str, str], ready: DecoderReady) -> JobRequest:
        callback = fields.get("callback_url") or None
        options = decode_options(fields, ready)
        return JobRequest(
            language=check_language(fields.get("language"), ready, options.model),
            options=options,
            callback_url=check_callback_url(
                callback, settings.callback_allowed_hosts, settings.callback_allowed_networks
            )
            if callback
            else None,
        )

    job = await accept_job(request, task_type, read_fields)
    standing = services(request).standing
    await standing.locate([job])
    return JSONResponse(task_json(job, standing))


ROUTES = [
    Route("/api/v1/transcribe", transcribe, methods=["POST"]),
    Route("/api/v1/translate", translate, methods=["POST"]),
    Route("/api/v1/status", status, methods=["GET"]),
    Route("/api/v1/srt", srt, methods=["GET"]),
]
