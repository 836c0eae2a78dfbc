"""Model management: list, import, load, unload and delete the host's models.

Every route here needs an admin (whisper_api.api.middleware.auth: a key of ADMIN_API_KEYS, or
where none is set a request from this machine); anyone else gets 403. Loads and unloads go to
this host's decoders, which do them between tasks: the answer (202) says which decoders were
asked, and `GET /api/v1/models` shows each model's state as they do.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from decoder.wire.models import MODELS
from decoder.wire.protocol import DecoderReady, LoadModel, UnloadModel
from whisper_api.api.errors import BadRequest, Forbidden, ModelInUse, ModelMissing, ServiceUnavailable
from whisper_api.api.middleware.auth import identity_of
from whisper_api.api.sse import sse_response
from whisper_api.api.state import services
from whisper_api.jobs.dispatch.pool import DecoderSlot
from whisper_api.jobs.news.hub import JobEvent
from whisper_api.models.catalog import catalog_json, delete_model_files, model_files
from whisper_api.models.imports import RUNNING, STATUS, ModelImport
from whisper_api.services import Services, rescan_models

MAX_BODY_BYTES = 16 * 1024
ADMIN_ONLY = (
    "model management needs a key listed in ADMIN_API_KEYS (where none is set, a request from the "
    "server's own machine)"
)


def _admin(request: Request) -> Services:
    if not identity_of(request).admin:
        raise Forbidden(ADMIN_ONLY)
    return services(request)


def _model(request: Request) -> str:
    name: str = request.path_params["name"]
    if name not in MODELS:
        raise ModelMissing(f"no model is called {name!r}; the models are {', '.join(MODELS)}")
    return name


def _decoders(request: Request, state: Services) -> list[DecoderSlot]:
    """The running decoders a load or unload goes to: all, or `?decoder=N` alone."""
    running = [slot for slot in state.pool.slots if slot.decoder.running]
    if not state.pool.slots:
        raise ServiceUnavailable("this host runs no decoder (ROLE=api)", headers={"Retry-After": "3600"})
    asked = request.query_params.get("decoder")
    if asked is None:
        return running
    chosen = [slot for slot in running if str(slot.index) == asked.strip()]
    if not chosen:
        indices = ", ".join(str(slot.index) for slot in running) or "none runs now"
        raise BadRequest(f"decoder must be the number of a running decoder ({indices})", param="decoder")
    return chosen


async def list_models(request: Request) -> Response:
    state = _admin(request)
    ready = state.pool.ready
    return JSONResponse(
        {
            "models": catalog_json(state.settings.model_dir, state.pool),
            "engine": ready.engine if ready else None,
            "max_model": ready.max_model_to_use if ready else None,
            "imports": [each.json() for each in state.models.all()],
        }
    )


async def import_model(request: Request) -> Response:
    state = _admin(request)
    body = await request.body()
    try:
        asked = json.loads(body) if len(body) <= MAX_BODY_BYTES else None
    except (ValueError, RecursionError):
        asked = None
    if not isinstance(asked, dict) or not all(isinstance(asked.get(key), str) for key in ("name", "source")):
        raise BadRequest('send a JSON object {"name": "<model>", "source": "<path, URL, openai or hf:repo>"}')
    started = state.models.start(asked["name"].strip(), asked["source"].strip())
    return JSONResponse(started.json(), status_code=202)


async def model_import(request: Request) -> Response:
    return JSONResponse(_import(request).json())


def _import(request: Request) -> ModelImport:
    found = _admin(request).models.get(request.path_params["import_id"])
    if found is None:
        raise ModelMissing("no model import has this id (imports are kept until the server restarts)")
    return found


async def model_import_events(request: Request) -> Response:
    """The import as it is now, then its progress events until it ends."""
    state = _admin(request)
    import_id = request.path_params["import_id"]

    async def snapshot() -> JobEvent:
        return STATUS, _import(request).json()

    def is_final(event: str, data: dict[str, Any]) -> bool:
        return event == STATUS and data.get("status") != RUNNING

    return await sse_response(state.hub, state.models.topic(import_id), snapshot, is_final)


def _available(ready: DecoderReady | None, name: str) -> None:
    if ready is None or name not in ready.available_models:
        offered = ", ".join(ready.available_models) if ready else "none yet"
        raise BadRequest(
            f"model {name} cannot be loaded here: the decoders load models in MODEL_DIR no larger than "
            f"MAX_MODEL ({offered}); import it first"
        )


async def load_model(request: Request) -> Response:
    state = _admin(request)
    name = _model(request)
    decoders = _decoders(request, state)
    _available(state.pool.ready, name)
    for slot in decoders:
        slot.decoder.send(LoadModel(name))
    return JSONResponse({"model": name, "decoders": [slot.index for slot in decoders]}, status_code=202)


async def unload_model(request: Request) -> Response:
    state = _admin(request)
    name = _model(request)
    decoders = _decoders(request, state)
    for slot in decoders:
        slot.decoder.send(UnloadModel(name))
    return JSONResponse({"model": name, "decoders": [slot.index for slot in decoders]}, status_code=202)


async def delete_model(request: Request) -> Response:
    """Remove the model's files; the decoders unload it. The model the server decodes with by
    default (MAX_MODEL, or the one planned for the device) is refused."""
    state = _admin(request)
    name = _model(request)
    ready = state.pool.ready
    if not model_files(state.settings.model_dir, name):
        raise ModelMissing(f"MODEL_DIR holds no files of model {name}")
    if ready is not None and MODELS[name].file_stem == MODELS[ready.max_model_to_use].file_stem:
        raise ModelInUse(
            f"model {name} is the one this server decodes with (MAX_MODEL); it cannot be deleted"
        )
    if any(each.name == name and each.status == RUNNING for each in state.models.all()):
        raise ModelInUse(f"model {name} is being imported")
    for slot in state.pool.slots:
        if slot.decoder.running:
            slot.decoder.send(UnloadModel(name))
    removed = delete_model_files(state.settings.model_dir, name)
    rescan_models(state.pool)
    return JSONResponse({"model": name, "deleted": [str(path) for path in removed]})


ROUTES = [
    Route("/api/v1/models", list_models, methods=["GET"]),
    Route("/api/v1/models", import_model, methods=["POST"]),
    Route("/api/v1/models/imports/{import_id}", model_import, methods=["GET"]),
    Route("/api/v1/models/imports/{import_id}/events", model_import_events, methods=["GET"]),
    Route("/api/v1/models/{name}/load", load_model, methods=["POST"]),
    Route("/api/v1/models/{name}/unload", unload_model, methods=["POST"]),
    Route("/api/v1/models/{name}", delete_model, methods=["DELETE"]),
]
