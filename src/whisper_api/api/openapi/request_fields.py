"""What the upload routes take besides the file, as JSON Schema, for the OpenAPI document
(whisper_api.api.openapi.document): the form fields of the job and OpenAI APIs, and the query
parameters of /asr. Their limits and names come from the checks that enforce them
(whisper_api.jobs.intake.options and speaker_options)."""

from __future__ import annotations

from typing import Any

from decoder.wire.options import CHANNEL_MODES, MAX_SPLIT_CHANNELS, MIN_SPLIT_CHANNELS
from whisper_api.api.contract import (
    ASR_OUTPUTS,
    ASR_TASKS,
    GRANULARITIES,
    OPENAI_MODEL,
    OPENAI_RESPONSE_FORMATS,
)
from whisper_api.api.openapi.schemas import TEXT
from whisper_api.jobs.intake.options import MAX_BEAM_SIZE, MAX_LOGPROB, MAX_PROMPT_CHARS, THRESHOLD_FIELDS
from whisper_api.jobs.intake.speaker_options import (
    COUNT_FIELDS,
    MAX_KNOWN_SPEAKERS,
    MAX_SPEAKERS,
    NAMES_FIELD,
    REFERENCES_FIELD,
)
from whisper_api.outputs.subtitles.style import STYLE_PROPERTIES


def in_query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PROMPT = {**TEXT, "maxLength": MAX_PROMPT_CHARS}
# Whisper's silence gate: a window is silence where no_speech_prob is above the first and the
# average log probability below the second.
NO_SPEECH, LOGPROB = THRESHOLD_FIELDS
NUMBER = {"type": "number"}
THRESHOLDS: dict[str, dict[str, Any]] = {
    NO_SPEECH: {**NUMBER, "minimum": 0, "maximum": 1, "description": "silence gate; 0.6 by default"},
    LOGPROB: {**NUMBER, "minimum": -MAX_LOGPROB, "maximum": 0, "description": "silence gate; -1 by default"},
}
TEMPERATURE = {"type": "number", "minimum": 0, "maximum": 1}
COUNT = {"type": "integer", "minimum": 1, "maximum": MAX_SPEAKERS}
SPEAKERS: dict[str, dict[str, Any]] = {
    "diarize": {"type": "boolean", "description": "label who said what (with word timestamps)"},
    **{name: {**COUNT, "description": "speakers; needs diarize"} for name in COUNT_FIELDS},
}
CHANNELS: dict[str, dict[str, Any]] = {
    "channels": {
        "enum": list(CHANNEL_MODES),
        "description": f"split: decode each channel of a {MIN_SPLIT_CHANNELS}-{MAX_SPLIT_CHANNELS} channel "
        "recording on its own, one speaker per channel",
    },
    "channel_names": {**TEXT, "description": "comma-separated names of the channels, for channels=split"},
}
KNOWN_SPEAKERS: dict[str, dict[str, Any]] = {
    NAMES_FIELD: {"type": "array", "items": TEXT, "maxItems": MAX_KNOWN_SPEAKERS},
    REFERENCES_FIELD: {"type": "array", "items": {**TEXT, "description": "data:audio/...;base64,..."}},
}
# What a task's language field means, on every route that takes one.
LANGUAGE = "code or English name; left out, each stretch is decoded in the language heard in it"
JOB_FIELDS: dict[str, dict[str, Any]] = {
    "language": {**TEXT, "description": LANGUAGE},
    "initial_prompt": PROMPT,
    "prompt": {**PROMPT, "description": "the same as initial_prompt"},
    "temperature": TEMPERATURE,
    "beam_size": {"type": "integer", "minimum": 1, "maximum": MAX_BEAM_SIZE},
    "word_timestamps": {"type": "boolean"},
    "model": {**TEXT, "description": "one of /v1/models"},
    **THRESHOLDS,
    **SPEAKERS,
    **CHANNELS,
    "callback_url": {**TEXT, "format": "uri", "description": "gets the final task as a POST"},
}
OPENAI_FIELDS: dict[str, dict[str, Any]] = {
    "model": {**TEXT, "default": OPENAI_MODEL},
    "language": {**TEXT, "description": LANGUAGE},
    "prompt": PROMPT,
    "response_format": {"enum": list(OPENAI_RESPONSE_FORMATS)},
    "temperature": TEMPERATURE,
    "timestamp_granularities[]": {"type": "array", "items": {"enum": list(GRANULARITIES)}},
    "stream": {"type": "boolean", "description": "stream the text as events while it is decoded"},
    "include[]": {"type": "array", "items": TEXT, "description": "nothing is served: any value is a 400"},
    "chunking_strategy": {**TEXT, "description": '"auto", or [type]=server_vad: voice-activity detection'},
    **THRESHOLDS,
    **SPEAKERS,
    **CHANNELS,
    **KNOWN_SPEAKERS,
    # This server's own: the layout of srt and vtt answers.
    **STYLE_PROPERTIES,
}
FLAG = {"type": "boolean"}
# The layout of subtitle answers (whisper_api.outputs.subtitles.style), as query parameters.
SUBTITLE_STYLE = [in_query(name, schema, schema["description"]) for name, schema in STYLE_PROPERTIES.items()]
ASR_ENCODE = in_query("encode", FLAG, "false: the body is raw 16 kHz mono s16le PCM")
ASR_PARAMETERS = [
    in_query("task", {"enum": list(ASR_TASKS)}, "transcribe (the default) or translate"),
    in_query("language", TEXT, LANGUAGE),
    in_query("initial_prompt", PROMPT, "text that comes before the recording"),
    ASR_ENCODE,
    in_query("output", {"enum": list(ASR_OUTPUTS)}, "the result's format; txt by default"),
    in_query("word_timestamps", FLAG, "time each word"),
    in_query("vad_filter", FLAG, "skip silence first (faster-whisper)"),
    *(
        in_query(name, schema, schema["description"])
        for name, schema in (THRESHOLDS | SPEAKERS | CHANNELS).items()
    ),
    *SUBTITLE_STYLE,
]
