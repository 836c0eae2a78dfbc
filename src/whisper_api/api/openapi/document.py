"""The OpenAPI 3.1 document of the HTTP API (/openapi.json), and a page that shows it (/docs).

The paths are written here, next to the routes they describe; their limits, enums and
formats, and the body schemas (whisper_api.api.openapi.schemas), come from the constants the code
uses. Tests check that every route and method is documented, that the document is valid
OpenAPI, and that the live server's answers match it. The page renders it with a few
lines of local script: nothing is loaded from a CDN.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from whisper_api import __version__
from whisper_api.api.contract import (
    ASR_FILE_FIELD,
    MAX_OFFSET,
    MAX_PAGE_SIZE,
    PAGE_FILES,
)
from whisper_api.api.openapi.request_fields import (
    ASR_ENCODE,
    ASR_PARAMETERS,
    JOB_FIELDS,
    OPENAI_FIELDS,
    SUBTITLE_STYLE,
    in_query,
)
from whisper_api.api.openapi.schemas import SCHEMAS, TASK_ID, TEXT, closed, ref
from whisper_api.api.uploads.form import FILE_FIELD
from whisper_api.outputs.formats import FORMATS

JSON = "application/json"
TASK_ID_PATH = {"name": "task_id", "in": "path", "required": True, "schema": TASK_ID}
TASK_ID_QUERY = {**TASK_ID_PATH, "in": "query"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _json(ref("Error"), "Error") for code in codes}


def _upload(fields: dict[str, dict[str, Any]], file_field: str = FILE_FIELD) -> dict[str, Any]:
    properties = {file_field: {"type": "string", "format": "binary"}, **fields}
    schema = {"type": "object", "required": [file_field], "properties": properties}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


def _media(media_type: str) -> str:
    """A media type without its parameters ("text/plain; charset=utf-8" -> "text/plain")."""
    return media_type.split(";")[0].strip()


UPLOAD_ERRORS = _errors(400, 401, 408, 413, 429, 503, 507)
# What the result of a finished task is in each format: the json one has a schema.
RESULT_CONTENT = {
    _media(media_type): {"schema": ref("Transcript") if name == "json" else TEXT}
    for name, media_type in FORMATS.items()
}
# OpenAI's answers: json and verbose_json are JSON, text is plain, srt and vtt subtitles.
OPENAI_CONTENT = {
    JSON: {"schema": ref("OpenAITranscription")},
    "text/plain": {"schema": TEXT},
    "text/event-stream": {"schema": TEXT, "x-event-data": ref("OpenAIStreamEvent")},
    **{_media(FORMATS[name]): {"schema": TEXT} for name in ("srt", "vtt")},
}


def _operation(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}


def _paths() -> dict[str, Any]:
    task = _json(ref("Task"))
    text_like = {"description": "OK", "content": {"text/plain": {"schema": TEXT}}}
    srt = {"description": "OK", "content": {_media(FORMATS["srt"]): {"schema": TEXT}}}
    openai = {"description": "OK", "content": OPENAI_CONTENT}
    version = _json(ref("Version"))
    return {
        "/api/v1/transcribe": {
            "post": _operation(
                "Queue a transcription", {"200": task, **UPLOAD_ERRORS}, requestBody=_upload(JOB_FIELDS)
            )
        },
        "/api/v1/translate": {
            "post": _operation(
                "Queue a translation into English",
                {"200": task, **UPLOAD_ERRORS},
                requestBody=_upload(JOB_FIELDS),
            )
        },
        "/api/v1/status": {
            "get": _operation(
                "A task (the seed's route)", {"200": task, **_errors(400, 401)}, parameters=[TASK_ID_QUERY]
            )
        },
        "/api/v1/srt": {
            "get": _operation(
                "SRT subtitles of a finished task",
                {"200": srt, **_errors(400, 401)},
                parameters=[TASK_ID_QUERY, *SUBTITLE_STYLE],
            )
        },
        "/api/v1/tasks": {
            "get": _operation(
                "The caller's tasks, newest first",
                {"200": _json(ref("TaskList")), **_errors(400, 401)},
                parameters=[
                    in_query(
                        "limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}, "page size"
                    ),
                    in_query(
                        "offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}, "tasks to skip"
                    ),
                ],
            )
        },
        "/api/v1/tasks/{task_id}": {
            "get": _operation("A task", {"200": task, **_errors(400, 401, 404)}, parameters=[TASK_ID_PATH]),
            "delete": _operation(
                "Cancel a waiting task or delete an ended one",
                {"200": _json(ref("Deleted")), "202": _json(ref("Deleted")), **_errors(400, 401, 404)},
                parameters=[TASK_ID_PATH],
            ),
        },
        "/api/v1/tasks/{task_id}/result": {
            "get": _operation(
                "The transcript in a format",
                {"200": {"description": "OK", "content": RESULT_CONTENT}, **_errors(400, 401, 404)},
                parameters=[
                    TASK_ID_PATH,
                    in_query("format", {"enum": list(FORMATS), "default": "json"}, "output format"),
                    *SUBTITLE_STYLE,
                ],
            )
        },
        "/api/v1/tasks/{task_id}/speakers": {
            "put": _operation(
                "Name a finished transcript's speakers",
                {"200": _json(ref("Transcript")), **_errors(400, 401, 404)},
                parameters=[TASK_ID_PATH],
                requestBody=_json({"type": "object", "additionalProperties": TEXT}, "label -> name"),
            )
        },
        "/api/v1/tasks/{task_id}/events": {
            "get": _operation(
                "Server-Sent Events until the task ends",
                {
                    "200": {
                        "description": "event stream: each event's data is a TaskEvent",
                        "content": {"text/event-stream": {"schema": TEXT, "x-event-data": ref("TaskEvent")}},
                    },
                    **_errors(400, 401, 404),
                },
                parameters=[TASK_ID_PATH],
            )
        },
        "/api/v1/detect-language": {
            "post": _operation(
                "The language of a recording, heard on windows of speech spread over it",
                {"200": _json(ref("Language")), **UPLOAD_ERRORS},
                requestBody=_upload({"model": {**TEXT, "description": "a multilingual one of /v1/models"}}),
            )
        },
        "/api/v1/decoder_status": {
            "get": _operation("The decoder's state", {"200": _json(ref("DecoderStatus")), **_errors(401)})
        },
        "/api/v1/decoder_status_refresh": {
            "get": _operation(
                "The decoder's state, freshly asked",
                {"200": _json(ref("DecoderStatus")), **_errors(401, 503)},
            )
        },
        "/api/v1/languages": {
            "get": _operation(
                "The languages and tasks a model offers",
                {"200": _json(ref("Languages")), **_errors(400, 401, 503)},
                parameters=[in_query("model", TEXT, "one of /v1/models; the server's own by default")],
            )
        },
        "/api/v1/version": {"get": _operation("The server's version", {"200": version, **_errors(401)})},
        **_model_paths(),
        "/api/v1/userinfo": {
            "get": _operation("Who the proxy says is asking", {"200": _json(ref("UserInfo")), **_errors(401)})
        },
        "/api/v1/login": {
            "get": _operation(
                "Back to the page after signing in",
                {"303": {"description": "redirect"}, **_errors(401)},
                parameters=[in_query("redirect", TEXT, "a path on this server")],
            )
        },
        "/api/v1/logs": {
            "get": _operation(
                "The log files as a zip",
                {
                    "200": {
                        "description": "zip",
                        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **_errors(401, 403),
                },
            )
        },
        "/v1/audio/transcriptions": {
            "post": _operation(
                "OpenAI: transcribe and wait",
                {"200": openai, **UPLOAD_ERRORS, **_errors(422)},
                requestBody=_upload(OPENAI_FIELDS),
            )
        },
        "/v1/audio/translations": {
            "post": _operation(
                "OpenAI: translate and wait",
                {"200": openai, **UPLOAD_ERRORS, **_errors(422)},
                requestBody=_upload(OPENAI_FIELDS),
            )
        },
        "/v1/models": {
            "get": _operation(
                "OpenAI: the models a request may name", {"200": _json(ref("ModelList")), **_errors(401)}
            )
        },
        "/asr": {
            "post": _operation(
                "whisper-asr-webservice: transcribe and answer with the result",
                {"200": {"description": "OK", "content": RESULT_CONTENT}, **UPLOAD_ERRORS, **_errors(422)},
                parameters=ASR_PARAMETERS,
                requestBody=_upload({}, ASR_FILE_FIELD),
            )
        },
        "/detect-language": {
            "post": _operation(
                "whisper-asr-webservice: the language of the first 30 s",
                {"200": _json(ref("AsrLanguage")), **UPLOAD_ERRORS, **_errors(422)},
                parameters=[ASR_ENCODE],
                requestBody=_upload({}, ASR_FILE_FIELD),
            )
        },
        "/status": {
            "get": _operation("whisper-asr-webservice: the version", {"200": version, **_errors(401)})
        },
        "/healthz": {"get": _operation("Liveness", {"200": _json(ref("Health"))})},
        "/readyz": {
            "get": _operation("Readiness", {"200": _json(ref("Readiness")), "503": _json(ref("Readiness"))})
        },
        "/metrics": {"get": _operation("Prometheus metrics", {"200": text_like, **_errors(401)})},
        "/openapi.json": {"get": _operation("This document", {"200": _json(ref("OpenAPI"))})},
        "/docs": {
            "get": _operation(
                "This document as a page",
                {"200": {"description": "HTML", "content": {"text/html": {"schema": TEXT}}}},
            )
        },
        **{
            path: {"get": _operation(summary, _text(_media(media_type)))}
            for path, (_, media_type, summary) in PAGE_FILES.items()
        },
    }


def _model_paths() -> dict[str, Any]:
    """Model management (whisper_api.api.routes.models): an admin's only, 403 for anyone else."""
    name = {"name": "name", "in": "path", "required": True, "schema": TEXT}
    import_id = {"name": "import_id", "in": "path", "required": True, "schema": TEXT}
    decoder = in_query("decoder", {"type": "integer", "minimum": 0}, "one decoder; all by default")
    command = {"202": _json(ref("ModelCommand"), "Accepted"), **_errors(400, 401, 403, 404, 503)}
    body = closed({"name": TEXT, "source": TEXT})
    return {
        "/api/v1/models": {
            "get": _operation(
                "Every model, its files, and which decoder holds it",
                {"200": _json(ref("ServerModels")), **_errors(401, 403)},
            ),
            "post": _operation(
                "Import a model: from a directory, openai's checkpoint URL or a Hugging Face repository",
                {"202": _json(ref("ModelImport"), "Accepted"), **_errors(400, 401, 403)},
                requestBody={"required": True, "content": {JSON: {"schema": body}}},
            ),
        },
        "/api/v1/models/imports/{import_id}": {
            "get": _operation(
                "A model import",
                {"200": _json(ref("ModelImport")), **_errors(401, 403, 404)},
                parameters=[import_id],
            )
        },
        "/api/v1/models/imports/{import_id}/events": {
            "get": _operation(
                "A model import's status and progress events until it ends",
                {
                    "200": {"description": "OK", "content": {"text/event-stream": {"schema": TEXT}}},
                    **_errors(401, 403, 404),
                },
                parameters=[import_id],
            )
        },
        "/api/v1/models/{name}/load": {
            "post": _operation("Load a model beside the others", command, parameters=[name, decoder])
        },
        "/api/v1/models/{name}/unload": {
            "post": _operation("Unload a model", command, parameters=[name, decoder])
        },
        "/api/v1/models/{name}": {
            "delete": _operation(
                "Remove a model's files",
                {"200": _json(ref("DeletedModel")), **_errors(401, 403, 404, 409)},
                parameters=[name],
            )
        },
    }


def _text(media_type: str) -> dict[str, Any]:
    return {"200": {"description": "OK", "content": {media_type: {"schema": TEXT}}}}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "whisper-api",
            "version": __version__,
            "description": "Self-hosted speech to text.",
        },
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}, {}],
    }


async def openapi_json(request: Request) -> Response:
    return JSONResponse(openapi_document())


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>whisper-api API</title>
<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
.op{border:1px solid #ddd;border-radius:6px;margin:.5rem 0;padding:.5rem .8rem}
.m{display:inline-block;min-width:4.5rem;font-weight:bold;text-transform:uppercase}
.get{color:#0a6}.post{color:#06c}.delete{color:#c33}
code{background:#f4f4f4;padding:0 .2rem}small{color:#666}
</style></head>
<body><h1>whisper-api</h1><p>The machine-readable document is <a href="openapi.json">openapi.json</a>.</p>
<div id="ops">Loading…</div>
<script>
fetch("openapi.json").then(r => r.json()).then(doc => {
  const ops = document.getElementById("ops");
  ops.textContent = "";
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const box = document.createElement("div");
      box.className = "op";
      const name = document.createElement("span");
      name.className = "m " + method;
      name.textContent = method;
      const where = document.createElement("code");
      where.textContent = path;
      const what = document.createElement("div");
      what.textContent = op.summary;
      const params = (op.parameters || []).map(p => p.name + " (" + p.in + ")");
      const form = op.requestBody ? Object.values(op.requestBody.content)[0].schema.properties : {};
      const body = Object.keys(form);
      const extra = document.createElement("small");
      const parts = [params.join(", "), body.length ? "form: " + body.join(", ") : ""];
      extra.textContent = parts.filter(Boolean).join(" · ");
      box.append(name, where, what, extra);
      ops.append(box);
    }
  }
});
</script></body></html>
"""


async def docs_page(request: Request) -> Response:
    return HTMLResponse(DOCS_PAGE)


ROUTES = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs_page, methods=["GET"]),
]
