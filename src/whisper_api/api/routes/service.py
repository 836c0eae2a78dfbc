"""The service's own endpoints: the decoders' state, the model's languages and the version."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from whisper_api import __version__
from whisper_api.api.errors import ServiceUnavailable
from whisper_api.api.state import services
from whisper_api.api.submission import NO_DECODER_YET
from whisper_api.jobs.dispatch.pool import DecoderPool, DecoderSlot
from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.intake.options import (
    check_model,
    is_english_only,
    model_in_use,
    offered_languages,
    offered_tasks,
)
from whisper_api.jobs.job import iso_time

REFRESH_TIMEOUT_S = 10.0


async def decoder_status(request: Request) -> Response:
    state = services(request)
    return JSONResponse(decoder_status_json(state.pool, state.queue, state.standing.count()))


async def decoder_status_refresh(request: Request) -> Response:
    state = services(request)
    running = [slot.decoder for slot in state.pool.slots if slot.decoder.running]
    await asyncio.gather(*(decoder.refresh_status(REFRESH_TIMEOUT_S) for decoder in running))
    return JSONResponse(decoder_status_json(state.pool, state.queue, state.standing.count()))


def decoder_status_json(pool: DecoderPool, queue: JobQueue, waiting: int) -> dict[str, Any]:
    """The host's decoders, one by one, under the seed's fields: those describe the first
    decoder, except that the model counts as loaded and the host as busy when any decoder's is,
    the restarts are the whole host's, and the tasks in the queue (`waiting`) the whole queue's.
    An API host (ROLE=api) has no decoder: its first decoder's fields are null."""
    decoders = [_decoder_json(slot, queue) for slot in pool.slots]
    first: dict[str, Any] = decoders[0] if decoders else {}
    ready = pool.ready
    received = [slot.decoder.status_received_at for slot in pool.slots if slot.decoder.status_received_at]
    return {
        "gpu_mode": first.get("gpu_mode"),
        "max_model_to_use": first.get("max_model_to_use"),
        "engine": ready.engine if ready else None,
        "last_loaded_model_size": first.get("last_loaded_model_size"),
        "is_model_loaded": any(decoder["is_model_loaded"] for decoder in decoders),
        "currently_busy": any(decoder["currently_busy"] for decoder in decoders),
        "tasks_in_queue": waiting,
        "received_at": iso_time(max(received, default=None)),
        "pid": first.get("pid"),
        "restarting": any(slot.supervisor.restarting for slot in pool.slots),
        "restarts": pool.restarts,
        "decoders": decoders,
    }


def _decoder_json(slot: DecoderSlot, queue: JobQueue) -> dict[str, Any]:
    decoder = slot.decoder
    ready, status = decoder.ready, decoder.status
    return {
        "decoder": slot.index,
        "pid": decoder.pid,
        "gpu_mode": ready.gpu_mode if ready else None,
        "cuda_device": slot.placement.cuda_device,
        "cpu_threads": slot.placement.cpu_threads,
        "max_model_to_use": ready.max_model_to_use if ready else None,
        "last_loaded_model_size": status.last_loaded_model_size if status else None,
        "is_model_loaded": status.is_model_loaded if status else False,
        "currently_busy": status.currently_busy if status else False,
        # The first of a batch, as before batches; all of them in task_ids.
        "task_id": next(iter(queue.held_by(slot.index)), None),
        "task_ids": list(queue.held_by(slot.index)),
        "restarting": slot.supervisor.restarting,
        "restarts": slot.supervisor.restarts,
    }


async def languages(request: Request) -> Response:
    """What a model can do, for the web page's choices: its languages and tasks. `?model=`
    names one of the available models; left out, the server's own."""
    ready = services(request).decoders_ready()
    if ready is None:
        raise ServiceUnavailable(NO_DECODER_YET, headers={"Retry-After": "10"})
    model = check_model(request.query_params.get("model") or None, ready)
    return JSONResponse(
        {
            "model": model_in_use(ready, model),
            "english_only": is_english_only(ready, model),
            "tasks": list(offered_tasks(ready, model)),
            "languages": [{"code": code, "name": name} for code, name in offered_languages(ready, model)],
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
