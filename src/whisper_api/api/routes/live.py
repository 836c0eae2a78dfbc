"""Watching a task live (Server-Sent Events) and asking which language a recording speaks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from decoder.wire.options import DecodeOptions
from decoder.wire.protocol import DecoderReady, DetectLanguage, LanguageDetected
from whisper_api.api.errors import BadRequest, ServiceUnavailable
from whisper_api.api.routes.tasks import find_job
from whisper_api.api.sse import sse_response
from whisper_api.api.state import services
from whisper_api.api.submission import JobRequest, store_checked_upload
from whisper_api.api.uploads.form import UploadForm
from whisper_api.jobs.intake.options import detection_model, multilingual_models
from whisper_api.jobs.job import JobStatus
from whisper_api.jobs.news.hub import JobEvent
from whisper_api.jobs.news.notifier import CANCELLED, STATUS
from whisper_api.jobs.views import task_json

# The statuses after which a task's event stream ends.
ENDED = (JobStatus.FINISHED.value, JobStatus.FAILED.value, CANCELLED)


async def task_events(request: Request) -> Response:
    """status, progress and position events of one task until it ends; the first event is the
    task as it is now."""
    jobs = services(request).standing

    async def snapshot() -> JobEvent:
        job = await find_job(request, request.path_params["task_id"], by_path=True)
        return STATUS, task_json(job, jobs)

    def is_final(event: str, data: dict[str, Any]) -> bool:
        return event == STATUS and data.get("status") in ENDED

    return await sse_response(services(request).hub, request.path_params["task_id"], snapshot, is_final)


async def detect_language(request: Request) -> Response:
    """The language spoken in the upload, heard on windows of speech spread over it, and the
    most probable others; `model` may name the multilingual model that hears it."""
    ready: DecoderReady | None = services(request).decoders_ready()
    if ready is not None and not multilingual_models(ready):
        raise BadRequest(
            f"the model {ready.max_model_to_use} is English-only and cannot tell languages apart; "
            "language detection needs a multilingual model (set MAX_MODEL to a name without '.en')"
        )
    detected = await language_of_upload(request, UploadForm())
    names = dict(ready.languages) if ready else {}
    return JSONResponse(
        {
            "language": detected.language,
            "language_name": names.get(detected.language),
            "probability": round(detected.probability, 4),
            "languages": [
                {"code": code, "name": names.get(code), "probability": round(probability, 4)}
                for code, probability in detected.candidates
            ],
            "windows": detected.windows,
        }
    )


async def language_of_upload(request: Request, form: UploadForm) -> LanguageDetected:
    """The language of the upload (decoder.process.detection). The upload is checked as any is, and
    deleted once answered. Where no multilingual model is at hand, English speaks for itself."""
    state = services(request)
    if not state.pool.slots:
        raise ServiceUnavailable(
            "this host runs no decoder (ROLE=api): language detection needs a host with ROLE=all",
            headers={"Retry-After": "3600"},
        )

    def read_fields(fields: Mapping[str, str], ready: DecoderReady) -> JobRequest:
        model = detection_model(fields.get("model") or None, ready)
        return JobRequest(language=None, options=DecodeOptions(model=model))

    async with state.admission.place():
        task_id, upload, wanted = await store_checked_upload(request, read_fields, form)
        ready = state.decoders_ready()
        try:
            if ready is not None and not multilingual_models(ready):
                return LanguageDetected(task_id, "en", 1.0, (("en", 1.0),), 0)
            asked = DetectLanguage(task_id, str(upload.path), upload.audio_format, wanted.options.model)
            return await state.tracker.detect_language(asked)
        finally:
            upload.path.unlink(missing_ok=True)


ROUTES = [
    Route("/api/v1/tasks/{task_id}/events", task_events, methods=["GET"]),
    Route("/api/v1/detect-language", detect_language, methods=["POST"]),
]
