"""The service's own endpoints: the decoder's state and the version."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from whisper_api import __version__
from whisper_api.api.errors import ServiceUnavailable
from whisper_api.api.state import services
from whisper_api.jobs.job import iso_time
from whisper_api.jobs.options import offered_languages, offered_tasks
from whisper_api.jobs.supervision import DecoderSupervisor

REFRESH_TIMEOUT_S = 10.0


async def decoder_status(request: Request) -> Response:
    return JSONResponse(decoder_status_json(services(request).supervisor))


async def decoder_status_refresh(request: Request) -> Response:
    supervisor = services(request).supervisor
    await supervisor.decoder.refresh_status(REFRESH_TIMEOUT_S)
    return JSONResponse(decoder_status_json(supervisor))


def decoder_status_json(supervisor: DecoderSupervisor) -> dict[str, Any]:
    decoder = supervisor.decoder
    ready, status = decoder.ready, decoder.status
    return {
        "gpu_mode": ready.gpu_mode if ready else None,
        "max_model_to_use": ready.max_model_to_use if ready else None,
        "engine": ready.engine if ready else None,
        "last_loaded_model_size": status.last_loaded_model_size if status else None,
        "is_model_loaded": status.is_model_loaded if status else False,
        "currently_busy": status.currently_busy if status else False,
        "tasks_in_queue": len(status.queued_task_ids) if status else 0,
        "received_at": iso_time(decoder.status_received_at),
        "pid": decoder.pid,
        "restarting": supervisor.restarting,
        "restarts": supervisor.restarts,
    }


async def languages(request: Request) -> Response:
    """What the model can do, for the web page's choices: its languages and tasks."""
    ready = services(request).decoder.ready
    if ready is None:
        raise ServiceUnavailable(
            "the decoder is restarting; try again shortly", headers={"Retry-After": "10"}
        )
    return JSONResponse(
        {
            "model": ready.max_model_to_use,
            "english_only": ready.english_only,
            "tasks": list(offered_tasks(ready)),
            "languages": [{"code": code, "name": name} for code, name in offered_languages(ready)],
        }
    )


async def version(request: Request) -> Response:
    return JSONResponse({"version": __version__})


ROUTES = [
    Route("/api/v1/decoder_status", decoder_status, methods=["GET"]),
    Route("/api/v1/decoder_status_refresh", decoder_status_refresh, methods=["GET"]),
    Route("/api/v1/languages", languages, methods=["GET"]),
    Route("/api/v1/version", version, methods=["GET"]),
]
