"""The OpenAPI 3.1 document of the HTTP API (/openapi.json), and a page that shows it (/docs).

The document is kept by hand, next to the routes it describes; a test checks that every route
and method is in it and that it is a valid OpenAPI document. The page renders it with a few
lines of local script: nothing is loaded from a CDN.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from whisper_api import __version__

JSON = "application/json"
TASK_ID = {
    "name": "task_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}
TASK_ID_QUERY = {**TASK_ID, "in": "query"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _json(_ref("Error"), "Error") for code in codes}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _upload(fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    properties = {"file": {"type": "string", "format": "binary"}, **fields}
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


TEXT = {"type": "string"}
JOB_FIELDS: dict[str, dict[str, Any]] = {
    "language": {**TEXT, "description": "code or English name; detected when left out"},
    "initial_prompt": {**TEXT, "maxLength": 4096},
    "prompt": {**TEXT, "maxLength": 4096, "description": "the same as initial_prompt"},
    "temperature": {"type": "number", "minimum": 0, "maximum": 1},
    "beam_size": {"type": "integer", "minimum": 1, "maximum": 10},
    "word_timestamps": {"type": "boolean"},
    "model": {**TEXT, "description": "one of /v1/models"},
    "callback_url": {**TEXT, "format": "uri", "description": "gets the final task as a POST"},
}
OPENAI_FIELDS: dict[str, dict[str, Any]] = {
    "model": {**TEXT, "default": "whisper-1"},
    "language": TEXT,
    "prompt": TEXT,
    "response_format": {"enum": ["json", "text", "srt", "verbose_json", "vtt"]},
    "temperature": {"type": "number", "minimum": 0, "maximum": 1},
    "timestamp_granularities[]": {"type": "array", "items": {"enum": ["segment", "word"]}},
}
UPLOAD_ERRORS = _errors(400, 401, 408, 413, 429, 503, 507)

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": TEXT,
                    "message": TEXT,
                    "type": TEXT,
                    "param": {"type": ["string", "null"]},
                },
            },
            "detail": TEXT,
        },
    },
    "Task": {
        "type": "object",
        "properties": {
            "task_id": TEXT,
            "status": {"enum": ["pending", "processing", "finished", "failed"]},
            "task_type": {"enum": ["transcribe", "translate"]},
            "position_in_queue": {"type": ["integer", "null"]},
            "progress": {"type": "number"},
            "eta_s": {"type": ["number", "null"]},
            "transcript": {"type": ["string", "null"]},
            "source_language": {"type": ["string", "null"]},
            "error": {"type": ["string", "null"]},
        },
    },
    "TaskList": {"type": "object", "properties": {"tasks": {"type": "array", "items": _ref("Task")}}},
    "DecoderStatus": {"type": "object", "properties": {"gpu_mode": {"type": ["boolean", "null"]}}},
    "Object": {"type": "object"},
}


def _operation(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}


def _paths() -> dict[str, Any]:
    task = _json(_ref("Task"))
    obj = _json(_ref("Object"))
    text_like = {"description": "OK", "content": {"text/plain": {"schema": TEXT}}}
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
                {"200": text_like, **_errors(400, 401)},
                parameters=[TASK_ID_QUERY],
            )
        },
        "/api/v1/tasks": {
            "get": _operation(
                "The caller's tasks, newest first",
                {"200": _json(_ref("TaskList")), **_errors(400, 401)},
                parameters=[
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "page size"),
                    _query("offset", {"type": "integer", "minimum": 0}, "tasks to skip"),
                ],
            )
        },
        "/api/v1/tasks/{task_id}": {
            "get": _operation("A task", {"200": task, **_errors(400, 401, 404)}, parameters=[TASK_ID]),
            "delete": _operation(
                "Cancel a waiting task or delete an ended one",
                {"200": obj, "202": obj, **_errors(400, 401, 404)},
                parameters=[TASK_ID],
            ),
        },
        "/api/v1/tasks/{task_id}/result": {
            "get": _operation(
                "The transcript in a format",
                {"200": text_like, **_errors(400, 401, 404)},
                parameters=[
                    TASK_ID,
                    _query("format", {"enum": ["json", "txt", "srt", "vtt", "tsv"]}, "output format"),
                    _query("max_line_width", {"type": "integer", "minimum": 1}, "subtitle line width"),
                    _query("max_line_count", {"type": "integer", "minimum": 1}, "lines per subtitle cue"),
                ],
            )
        },
        "/api/v1/tasks/{task_id}/events": {
            "get": _operation(
                "Server-Sent Events until the task ends",
                {
                    "200": {
                        "description": "event stream",
                        "content": {"text/event-stream": {"schema": TEXT}},
                    },
                    **_errors(400, 401, 404),
                },
                parameters=[TASK_ID],
            )
        },
        "/api/v1/detect-language": {
            "post": _operation(
                "The language of a recording's first 30 s",
                {"200": obj, **UPLOAD_ERRORS},
                requestBody=_upload({}),
            )
        },
        "/api/v1/decoder_status": {
            "get": _operation("The decoder's state", {"200": _json(_ref("DecoderStatus")), **_errors(401)})
        },
        "/api/v1/decoder_status_refresh": {
            "get": _operation(
                "The decoder's state, freshly asked",
                {"200": _json(_ref("DecoderStatus")), **_errors(401, 503)},
            )
        },
        "/api/v1/version": {"get": _operation("The server's version", {"200": obj, **_errors(401)})},
        "/api/v1/userinfo": {"get": _operation("Who the proxy says is asking", {"200": obj, **_errors(401)})},
        "/api/v1/login": {
            "get": _operation(
                "Back to the page after signing in",
                {"303": {"description": "redirect"}, **_errors(401)},
                parameters=[_query("redirect", TEXT, "a path on this server")],
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
                {"200": obj, **UPLOAD_ERRORS, **_errors(422)},
                requestBody=_upload(OPENAI_FIELDS),
            )
        },
        "/v1/audio/translations": {
            "post": _operation(
                "OpenAI: translate and wait",
                {"200": obj, **UPLOAD_ERRORS, **_errors(422)},
                requestBody=_upload(OPENAI_FIELDS),
            )
        },
        "/v1/models": {
            "get": _operation("OpenAI: the models a request may name", {"200": obj, **_errors(401)})
        },
        "/healthz": {"get": _operation("Liveness", {"200": obj})},
        "/readyz": {"get": _operation("Readiness", {"200": obj, "503": obj})},
        "/metrics": {"get": _operation("Prometheus metrics", {"200": text_like, **_errors(401)})},
        "/openapi.json": {"get": _operation("This document", {"200": obj})},
        "/docs": {
            "get": _operation(
                "This document as a page",
                {"200": {"description": "HTML", "content": {"text/html": {"schema": TEXT}}}},
            )
        },
        **{path: {"get": _operation(summary, _text(media_type))} for path, summary, media_type in PAGE_FILES},
    }


# The web page's files (whisper_api.api.routes.page); the route test keeps the two in step.
PAGE_FILES = (
    ("/", "The web page", "text/html"),
    ("/index.html", "The web page", "text/html"),
    ("/script.js", "The web page's script", "text/javascript"),
    ("/styles.css", "The web page's stylesheet", "text/css"),
)


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
