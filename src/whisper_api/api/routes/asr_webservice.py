"""whisper-asr-webservice's API, as Bazarr's Whisper provider and subgen-style clients call it.

- `POST /asr`: the file in the form field `audio_file`, every option a query parameter. The
  answer is the result document itself, once its job has ended: synchronous on the outside, an
  ordinary job inside (queued in upload order, listed, retried after a decoder crash). The
  upload is read to its end at once, whatever the decoders are doing. A failure is a 4xx/5xx
  with a JSON message, never a 200: such clients keep any 200 body as a subtitle.
- `POST /detect-language`: the language of the first 30 s of `audio_file`.
- `GET /status`: the version (a client's "test connection").

`encode=false` means the body is headerless 16 kHz mono s16le PCM (whisper_api.api.uploads).
`diarize=true` labels speakers, with `min_speakers` and `max_speakers` as bounds (in that
order, unlike that server's). Parameters this server does not use (Bazarr's `video_file`, ...)
are accepted and ignored, as that API's clients expect.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from decoder.wire.protocol import DecoderReady
from whisper_api import __version__
from whisper_api.api.contract import ASR_FILE_FIELD, ASR_OUTPUTS, ASR_TASKS
from whisper_api.api.errors import BadRequest
from whisper_api.api.routes.live import language_of_upload
from whisper_api.api.state import services
from whisper_api.api.submission import JobRequest, accept_job, finished_job, safe_name
from whisper_api.api.uploads.form import UploadForm
from whisper_api.jobs.intake.options import (
    CHANNEL_FIELDS,
    THRESHOLD_FIELDS,
    check_language,
    decode_options,
    parse_flag,
)
from whisper_api.jobs.intake.speaker_options import COUNT_FIELDS
from whisper_api.jobs.views import transcript_of
from whisper_api.outputs.formats import FORMATS, render
from whisper_api.outputs.subtitles.style import style_from

# The query parameters that become decoding options.
_OPTION_PARAMETERS = (
    "initial_prompt",
    "word_timestamps",
    "vad_filter",
    *THRESHOLD_FIELDS,
    "diarize",
    *CHANNEL_FIELDS,
    *COUNT_FIELDS,
)


async def asr(request: Request) -> Response:
    query = request.query_params
    output = ASR_OUTPUTS.get(query.get("output") or "txt")
    if output is None:
        raise BadRequest(f"output must be one of {', '.join(ASR_OUTPUTS)}", param="output")
    task = query.get("task") or "transcribe"
    task_type = next((name for name in ASR_TASKS if name == task), None)
    if task_type is None:
        raise BadRequest(f"task must be one of {', '.join(ASR_TASKS)}", param="task")
    # Checked before the upload is taken: a bad field costs no decoding.
    style = style_from(query)

    def read_fields(fields: Mapping[str, str], ready: DecoderReady) -> JobRequest:
        own = {name: fields[name] for name in _OPTION_PARAMETERS if name in fields}
        options = decode_options(own, ready)
        return JobRequest(
            language=check_language(fields.get("language"), ready, options.model), options=options
        )

    job = await accept_job(request, task_type, read_fields, _form(request))
    ended = await finished_job(request, job)
    download = f"{safe_name(job.original_file_name)}.{output}"
    return Response(
        render(transcript_of(ended), output, style),
        media_type=FORMATS[output],
        headers={"Content-Disposition": f'attachment; filename="{download}"'},
    )


async def detect_language(request: Request) -> Response:
    detected = await language_of_upload(request, _form(request))
    ready = services(request).decoders_ready()
    names = dict(ready.languages) if ready else {}
    return JSONResponse(
        {
            "detected_language": names.get(detected.language, detected.language),
            "language_code": detected.language,
            "confidence": round(detected.probability, 4),
        }
    )


async def status(request: Request) -> Response:
    return JSONResponse({"version": __version__})


def _form(request: Request) -> UploadForm:
    encoded = parse_flag({"encode": request.query_params.get("encode") or "true"}, "encode")
    return UploadForm(ASR_FILE_FIELD, raw_pcm=not encoded)


ROUTES = [
    Route("/asr", asr, methods=["POST"]),
    Route("/detect-language", detect_language, methods=["POST"]),
    Route("/status", status, methods=["GET"]),
]
