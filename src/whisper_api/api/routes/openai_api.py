"""OpenAI's audio API: /v1/audio/transcriptions, /v1/audio/translations and /v1/models.

The requests run through the same queue and decoder as the job API; the HTTP request simply
waits for its job, or with `stream=true` streams its text as it is decoded
(whisper_api.api.routes.openai_stream), whatever the model name. The official client's bracket
fields are read: `timestamp_granularities[]`, `include[]` (nothing it names is served, so any
value is a 400), `known_speaker_names[]` with `known_speaker_references[]` (speakers to name;
like `response_format=diarized_json`, they turn speaker labels on) and `chunking_strategy`
("auto", or `chunking_strategy[type]=server_vad` with its tuning fields, or the same as a JSON
object), which turns on voice-activity detection where the engine has it. srt and vtt answers
take this server's subtitle style fields as extra form fields (`style=netflix`,
`max_line_width`, ...: whisper_api.outputs.subtitles.style). Other fields OpenAI defines and
this server does not use are ignored, as a drop-in replacement must.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from decoder.wire.protocol import DecoderReady, TaskType
from whisper_api.api.contract import DIARIZED_FORMAT, GRANULARITIES, OPENAI_MODEL, OPENAI_RESPONSE_FORMATS
from whisper_api.api.errors import BadRequest
from whisper_api.api.routes.openai_stream import transcript_stream, usage_of
from whisper_api.api.state import services
from whisper_api.api.submission import JobRequest, accept_job, finished_job
from whisper_api.jobs.errors import Refused
from whisper_api.jobs.intake.options import (
    CHANNEL_FIELDS,
    THRESHOLD_FIELDS,
    check_language,
    check_model,
    decode_options,
    parse_flag,
)
from whisper_api.jobs.intake.speaker_options import NAMES_FIELD, SPEAKER_FIELDS
from whisper_api.jobs.news.hub import Subscription
from whisper_api.jobs.views import transcript_of
from whisper_api.outputs.formats import FORMATS, openai_diarized_json, openai_json, render
from whisper_api.outputs.subtitles.style import SubtitleStyle, style_from


async def transcriptions(request: Request) -> Response:
    return await _answer(request, "transcribe")


async def translations(request: Request) -> Response:
    return await _answer(request, "translate")


# The fields that go to decode_options as they are: OpenAI's, Whisper's silence gate, speakers',
# and this server's channels=split.
_OWN_OPTIONS = ("prompt", "temperature", "beam_size", *THRESHOLD_FIELDS, *SPEAKER_FIELDS, *CHANNEL_FIELDS)


async def models(request: Request) -> Response:
    ready: DecoderReady | None = services(request).decoders_ready()
    names = [OPENAI_MODEL, *(ready.available_models if ready else ())]
    return JSONResponse(
        {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "whisper-api"} for name in names
            ],
        }
    )


async def _answer(request: Request, task_type: TaskType) -> Response:
    chosen: dict[str, str | tuple[str, ...]] = {}
    watched: list[Subscription] = []
    # The subtitle style of srt and vtt answers: this server's extra fields.
    styles: list[SubtitleStyle] = []

    def read_fields(fields: Mapping[str, str], ready: DecoderReady) -> JobRequest:
        response_format = fields.get("response_format") or "json"
        if response_format not in OPENAI_RESPONSE_FORMATS:
            raise BadRequest(
                f"response_format must be one of {', '.join(OPENAI_RESPONSE_FORMATS)}",
                param="response_format",
            )
        styles.append(style_from(fields))
        granularities = _granularities(fields)
        if granularities and response_format != "verbose_json":
            raise BadRequest(
                "timestamp_granularities needs response_format verbose_json", param="timestamp_granularities"
            )
        model = fields.get("model") or OPENAI_MODEL
        try:
            check_model(None if model == OPENAI_MODEL else model, ready)
        except Refused as exc:
            raise Refused(exc.message, param="model") from exc
        # OpenAI's temperature 0 means "start at 0 and raise it where decoding fails", which is
        # openai-whisper's own default ladder.
        # beam_size is no OpenAI field, but a client of this server may send it here too.
        own = {key: value for key, value in fields.items() if key in _OWN_OPTIONS}
        if own.get("temperature", "").strip() in ("0", "0.0"):
            del own["temperature"]
        own["word_timestamps"] = "true" if "word" in granularities else "false"
        own["vad_filter"] = "true" if _chunked(fields) else "false"
        _check_include(fields)
        if model != OPENAI_MODEL:
            own["model"] = model
        stream = "true" if parse_flag(fields, "stream") else ""
        chosen.update(response_format=response_format, granularities=granularities, stream=stream)
        language = fields.get("language") if task_type == "transcribe" else None
        # As OpenAI's diarizing model: diarized_json, or known speakers, ask for speakers.
        diarize = response_format == DIARIZED_FORMAT or NAMES_FIELD in fields
        options = decode_options(own, ready, diarize=diarize)
        return JobRequest(language=check_language(language, ready, options.model), options=options)

    def watch(task_id: str) -> None:
        if chosen["stream"]:
            watched.append(services(request).hub.subscribe(task_id))

    try:
        job = await accept_job(request, task_type, read_fields, watch=watch)
    except BaseException:
        for subscription in watched:
            subscription.close()
        raise
    if watched:
        return transcript_stream(
            request, job, watched[0], diarized=chosen["response_format"] == DIARIZED_FORMAT
        )
    ended = await finished_job(request, job)
    transcript = transcript_of(ended)
    response_format = str(chosen["response_format"])
    if response_format in ("srt", "vtt"):
        return Response(render(transcript, response_format, styles[0]), media_type=FORMATS[response_format])
    if response_format == "text":
        return PlainTextResponse(transcript.text + "\n")
    if response_format == DIARIZED_FORMAT:
        return JSONResponse(openai_diarized_json(transcript) | {"usage": usage_of(ended)})
    ready = services(request).decoders_ready()
    names = dict(ready.languages) if ready else {}
    granularities = chosen["granularities"]
    return JSONResponse(
        openai_json(
            transcript,
            verbose=response_format == "verbose_json",
            task=task_type,
            language_name=names.get(transcript.language, transcript.language),
            include_words="word" in granularities,
            include_segments="segment" in granularities or not granularities,
            temperature=ended.options.temperature or 0.0,
        )
        | {"usage": usage_of(ended)}
    )


def _chunked(fields: Mapping[str, str]) -> bool:
    """Whether chunking_strategy asks for voice-activity detection ("auto" or server_vad)."""
    raw = fields.get("chunking_strategy", "").strip()
    kind = fields.get("chunking_strategy[type]", "").strip()
    if raw.startswith("{"):
        try:
            kind = str(json.loads(raw).get("type", ""))
        except (ValueError, AttributeError) as exc:
            raise BadRequest("chunking_strategy is not a JSON object", param="chunking_strategy") from exc
    elif raw:
        if raw != "auto":
            raise BadRequest('chunking_strategy must be "auto" or an object', param="chunking_strategy")
        return True
    if kind and kind != "server_vad":
        raise BadRequest('chunking_strategy[type] must be "server_vad"', param="chunking_strategy")
    return bool(kind)


def _check_include(fields: Mapping[str, str]) -> None:
    """include[] asks for more than the text; logprobs, the one value OpenAI knows, is not kept."""
    for value in (part.strip() for part in fields.get("include[]", fields.get("include", "")).split(",")):
        if value:
            raise BadRequest(
                f"include[] {value!r} cannot be served: this server keeps no per-token log probabilities",
                param="include",
            )


def _granularities(fields: Mapping[str, str]) -> tuple[str, ...]:
    raw = fields.get("timestamp_granularities[]") or fields.get("timestamp_granularities") or ""
    wanted = tuple(part.strip() for part in raw.split(",") if part.strip())
    for granularity in wanted:
        if granularity not in GRANULARITIES:
            raise BadRequest(
                f"timestamp_granularities may hold {' and '.join(GRANULARITIES)}, not {granularity!r}",
                param="timestamp_granularities",
            )
    return wanted


ROUTES = [
    Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
    Route("/v1/audio/translations", translations, methods=["POST"]),
    Route("/v1/models", models, methods=["GET"]),
]
