"""Errors the HTTP layer reports, and the one place that turns exceptions into responses.

    ApiError                 a request the HTTP layer refuses, with status, code and message
    ├── BadRequest           400: the request itself is wrong (missing file, bad form, ...)
    ├── TaskNotFound         400: the seed answers unknown task ids with 400, clients rely on it
    │   (401, an API key is needed, is answered by whisper_api.api.middleware.auth before any route)
    ├── TaskMissing          404: an unknown task on the /api/v1/tasks/{task_id} routes
    ├── ModelMissing         404: an unknown model, or one MODEL_DIR does not hold
    ├── Forbidden            403
    ├── ModelInUse           409: the model cannot be deleted now
    ├── RequestTimeout       408: the upload arrived too slowly
    ├── PayloadTooLarge      413: the upload is over MAX_UPLOAD_MB
    ├── Unprocessable        422: decoding the upload failed (the OpenAI API's answer)
    └── ServiceUnavailable   503: the decoder is restarting, or the task went away

A subtitle style a request cannot have (whisper_api.outputs.subtitles.style.StyleError) is 400.
Errors of the job domain (whisper_api.jobs.errors) are mapped here too, by kind: Refused is
400, NoRoom 429 and NotServing 503, with Retry-After where the kind gives one. StoreUnavailable
is 507 where the disk is full and 503 otherwise; the client hears a short reason and the log
has the full one. Protocol errors that hypercorn answers before any route runs (431 for
headers that are too large, 400 for a malformed request) get the same body through
whisper_api.api.protocol_errors.

Every error body is `{"error": {"code", "message", "type", "param"}, "detail": message}`:
`detail` is the key the seed's clients read, and `error` has the shape OpenAI clients read.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from whisper_api.jobs.errors import JobError, NoRoom, NotServing, Refused, StoreError, StoreUnavailable
from whisper_api.outputs.subtitles.style import StyleError

log = logging.getLogger(__name__)


class ApiError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, headers: dict[str, str] | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers
        # The request field at fault, where there is one (OpenAI's `param`).
        self.param = param


class BadRequest(ApiError):
    pass


class TaskNotFound(ApiError):
    code = "task_not_found"


class TaskMissing(ApiError):
    status_code = 404
    code = "task_not_found"


class ModelMissing(ApiError):
    status_code = 404
    code = "model_not_found"


class ModelInUse(ApiError):
    status_code = 409
    code = "model_in_use"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class RequestTimeout(ApiError):
    status_code = 408
    code = "request_timeout"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "payload_too_large"


class Unprocessable(ApiError):
    """422: the upload was accepted, but decoding it failed."""

    status_code = 422
    code = "decoding_failed"


class ServiceUnavailable(ApiError):
    status_code = 503
    code = "service_unavailable"


def error_response(
    status_code: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> JSONResponse:
    kind = "invalid_request_error" if status_code < 500 else "server_error"
    error = {"code": code, "message": message, "type": kind, "param": param}
    return JSONResponse({"error": error, "detail": message}, status_code=status_code, headers=headers)


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.code, exc.message, exc.headers, exc.param)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (404 unknown path, 405 wrong method) in the same shape."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def handle_client_disconnect(request: Request, exc: Exception) -> Response:
    """The client went away mid-request (an aborted upload): nobody reads this answer."""
    return error_response(400, "client_disconnected", "the client closed the connection")


# The HTTP status of each kind of domain error.
JOB_ERROR_STATUS: tuple[tuple[type[JobError], int], ...] = ((Refused, 400), (NoRoom, 429), (NotServing, 503))


def job_error_status(exc: JobError) -> int | None:
    """The HTTP status of a domain error (None for the StoreError kinds and unmapped ones)."""
    return next((status for kind, status in JOB_ERROR_STATUS if isinstance(exc, kind)), None)


async def handle_job_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, JobError)
    if isinstance(exc, StoreError):
        return _store_failed(request, exc)
    status = job_error_status(exc)
    if status is None:
        return await handle_unexpected(request, exc)
    headers = None if exc.retry_after_s is None else {"Retry-After": str(exc.retry_after_s)}
    return error_response(status, exc.code, exc.message, headers, exc.param)


def _store_failed(request: Request, exc: StoreError) -> Response:
    log.error("%s %s refused: %s", request.method, request.url.path, exc)
    if isinstance(exc, StoreUnavailable) and exc.full:
        return error_response(
            507,
            "insufficient_storage",
            "the server has no disk space left for this request; try again later",
            headers={"Retry-After": "60"},
        )
    return error_response(
        503,
        "storage_unavailable",
        "the server cannot store anything right now; try again later",
        headers={"Retry-After": "30"},
    )


async def handle_style_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StyleError)
    return error_response(400, "invalid_subtitle_style", exc.message, param=exc.param)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal server error")


EXCEPTION_HANDLERS = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    ClientDisconnect: handle_client_disconnect,
    JobError: handle_job_error,
    StyleError: handle_style_error,
    Exception: handle_unexpected,
}
