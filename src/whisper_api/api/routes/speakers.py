"""PUT /api/v1/tasks/{task_id}/speakers: name a finished transcript's speakers, in every format.

The body is a JSON object of labels and names, e.g. {"SPEAKER_00": "Alice"}; the answer is the
renamed transcript (the json format). The store keeps the names, so every download, on any host,
carries them.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from whisper_api.api.errors import BadRequest
from whisper_api.api.routes.tasks import find_job
from whisper_api.api.state import services
from whisper_api.jobs.job import JobStatus
from whisper_api.outputs.formats import render
from whisper_api.outputs.speaker_names import BadNames, renamed

MAX_BODY_BYTES = 64 * 1024


async def rename_speakers(request: Request) -> Response:
    job = await find_job(request, request.path_params["task_id"], by_path=True)
    if job.status is not JobStatus.FINISHED or job.result is None or not job.result.speakers:
        raise BadRequest("only a finished task with speaker labels (diarize=true) has speakers to name")
    body = await request.body()
    try:
        names = json.loads(body) if len(body) <= MAX_BODY_BYTES else None
    except (ValueError, RecursionError):
        names = None
    if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
        raise BadRequest('send a JSON object of labels and names, e.g. {"SPEAKER_00": "Alice"}')
    try:
        job.result = renamed(job.result, names)
    except BadNames as exc:
        raise BadRequest(str(exc)) from exc
    await services(request).store.save_result(job)
    return JSONResponse(json.loads(render(job.result, "json")))


ROUTES = [Route("/api/v1/tasks/{task_id}/speakers", rename_speakers, methods=["PUT"])]
