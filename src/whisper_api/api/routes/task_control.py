"""Listing, reading and cancelling tasks by path: /api/v1/tasks and /api/v1/tasks/{task_id}."""

from __future__ import annotations

from typing import TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from whisper_api.api.contract import DEFAULT_PAGE_SIZE, MAX_OFFSET, MAX_PAGE_SIZE
from whisper_api.api.errors import BadRequest, TaskMissing
from whisper_api.api.routes.tasks import find_job
from whisper_api.api.state import services
from whisper_api.api.submission import owner_of, safe_stem
from whisper_api.jobs.job import JobStatus, iso_time
from whisper_api.jobs.tracker.tracking import CancelOutcome
from whisper_api.jobs.views import task_json, transcript_of
from whisper_api.outputs.formats import FORMATS, UnknownFormat, render
from whisper_api.outputs.subtitles.style import style_from
from whisper_api.settings.kinds import whole

T = TypeVar("T", int, None)


async def list_tasks(request: Request) -> Response:
    """The caller's tasks, newest first; `limit` (≤ 200) and `offset` page through them."""
    limit = _query_int(request, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    offset = _query_int(request, "offset", 0, 0, MAX_OFFSET)
    parts = services(request)
    jobs = await parts.store.page(owner_of(request), limit, offset)
    await parts.standing.locate(jobs)
    return JSONResponse(
        {
            "tasks": [
                {
                    "task_id": job.task_id,
                    "status": job.status.value,
                    "task_type": job.task_type,
                    "original_file_name": job.original_file_name,
                    "position_in_queue": parts.standing.position(job),
                    "time_uploaded": iso_time(job.uploaded_at),
                }
                for job in jobs
            ],
            "limit": limit,
            "offset": offset,
        }
    )


async def get_task(request: Request) -> Response:
    job = await find_job(request, request.path_params["task_id"], by_path=True)
    return JSONResponse(task_json(job, services(request).standing))


async def task_result(request: Request) -> Response:
    """The finished transcript in one of FORMATS; the subtitle formats take a style's fields
    (whisper_api.outputs.subtitles.style)."""
    job = await find_job(request, request.path_params["task_id"], by_path=True)
    if job.status is not JobStatus.FINISHED:
        reason = f": {job.error}" if job.error else ""
        raise BadRequest(f"the task is {job.status.value}{reason}; its result exists once it is finished")
    fmt = request.query_params.get("format", "json")
    if fmt not in FORMATS:
        raise BadRequest(str(UnknownFormat(fmt)))
    body = render(transcript_of(job), fmt, style_from(request.query_params))
    disposition = (
        "inline" if fmt == "json" else f'attachment; filename="{safe_stem(job.original_file_name)}.{fmt}"'
    )
    return Response(body, media_type=FORMATS[fmt], headers={"Content-Disposition": disposition})


async def delete_task(request: Request) -> Response:
    """Cancel a waiting task, or delete an ended one with its files (200); a decoding task is
    cancelled when its decoding ends (202)."""
    job = await find_job(request, request.path_params["task_id"], by_path=True)
    outcome = await services(request).tracker.cancel(job.task_id)
    if outcome is None:
        raise TaskMissing("task_id not valid: no such task, or its result has expired")
    status_code = 202 if outcome is CancelOutcome.CANCELLING else 200
    return JSONResponse({"task_id": job.task_id, "status": outcome.value}, status_code=status_code)


def _query_int(request: Request, name: str, default: T, low: int, high: int | None) -> int | T:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return whole(low, high).parse(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be {exc}") from None


ROUTES = [
    Route("/api/v1/tasks", list_tasks, methods=["GET"]),
    Route("/api/v1/tasks/{task_id}/result", task_result, methods=["GET"]),
    Route("/api/v1/tasks/{task_id}", get_task, methods=["GET"]),
    Route("/api/v1/tasks/{task_id}", delete_task, methods=["DELETE"]),
]
