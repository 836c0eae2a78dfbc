"""The JSON Schemas of the API's bodies, for the OpenAPI document (whisper_api.api.openapi.document).

Enums and limits come from the constants the code uses; every object lists all its keys as
required and allows no others, so that tests/system/test_openapi_live.py, which validates the live
server's answers against these, fails the moment a body and its schema part ways.
"""

from __future__ import annotations

from typing import Any, get_args

from decoder.wire.choices import ENGINE_NAMES
from decoder.wire.protocol import STAGES, TaskType
from whisper_api.api.contract import OPENAI_MODEL
from whisper_api.jobs.job import TASK_ID_FORMAT, JobStatus
from whisper_api.jobs.news.hub import PROGRESS
from whisper_api.jobs.news.notifier import CANCELLED, POSITION, STATUS
from whisper_api.jobs.tracker.tracking import CancelOutcome
from whisper_api.models.imports import FAILED, FINISHED, RUNNING
from whisper_api.outputs.formats import (
    LANGUAGE_SHARE_PROPERTIES,
    SEGMENT_PROPERTIES,
    STATS_PROPERTIES,
    WORD_PROPERTIES,
)

TEXT: dict[str, Any] = {"type": "string"}
MAYBE_TEXT: dict[str, Any] = {"type": ["string", "null"]}
MAYBE_NUMBER: dict[str, Any] = {"type": ["number", "null"]}
MAYBE_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
TASK_ID: dict[str, Any] = {"type": "string", "pattern": TASK_ID_FORMAT.pattern}
TASK_TYPES = list(get_args(TaskType))
# Events of GET /api/v1/tasks/{task_id}/events.
EVENT_NAMES = (STATUS, PROGRESS, POSITION)


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def closed(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with exactly these keys, all of them required but the `optional` ones."""
    required = [name for name in properties if name not in optional]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


LANGUAGE_SHARES: dict[str, Any] = {"type": "array", "items": closed(LANGUAGE_SHARE_PROPERTIES)}
# OpenAI's usage of a transcription billed by its length.
USAGE = closed({"type": {"const": "duration"}, "seconds": {"type": "integer", "minimum": 0}})

TASK = closed(
    {
        "task_id": TASK_ID,
        "status": {"enum": [status.value for status in JobStatus]},
        "task_type": {"enum": TASK_TYPES},
        "original_file_name": TEXT,
        "language": MAYBE_TEXT,
        "position_in_queue": {"type": ["integer", "null"], "minimum": 0},
        "progress": {"type": "number", "minimum": 0, "maximum": 1},
        "eta_s": MAYBE_NUMBER,
        "time_uploaded": {"type": "string", "format": "date-time"},
        "time_processing_started": MAYBE_TIME,
        "time_processing_finished": MAYBE_TIME,
        "processing_duration": MAYBE_NUMBER,
        "audio_duration": MAYBE_NUMBER,
        "transcript": MAYBE_TEXT,
        "source_language": MAYBE_TEXT,
        # Every language heard in a finished task, with its share of the speech; null before.
        "languages": {"type": ["array", "null"], "items": LANGUAGE_SHARES["items"]},
        "target_model_size": MAYBE_TEXT,
        "used_model_size": MAYBE_TEXT,
        "used_device": MAYBE_TEXT,
        "error": MAYBE_TEXT,
        # What a processing task is doing (decoder.wire.protocol.STAGES); null otherwise.
        "stage": {"enum": [*STAGES, None]},
    }
)
TASK_SUMMARY_KEYS = (
    "task_id",
    "status",
    "task_type",
    "original_file_name",
    "position_in_queue",
    "time_uploaded",
)

# Speakers are there where the task asked for them; a language where the decoder reported it.
SEGMENT = closed(
    SEGMENT_PROPERTIES | STATS_PROPERTIES, optional=(*STATS_PROPERTIES, "speaker", "channel", "language")
)
# OpenAI's words carry no probability.
WORD = closed({key: value for key, value in WORD_PROPERTIES.items() if key != "probability"}, ("speaker",))
# What decoder_status says of each decoder and, for the seed's clients, of the first at the top.
_DECODER_FIELDS: dict[str, Any] = {
    "pid": {"type": ["integer", "null"]},
    "gpu_mode": {"type": ["boolean", "null"]},
    "max_model_to_use": MAYBE_TEXT,
    "last_loaded_model_size": MAYBE_TEXT,
    "is_model_loaded": {"type": "boolean"},
    "currently_busy": {"type": "boolean"},
    "restarting": {"type": "boolean"},
    "restarts": {"type": "integer", "minimum": 0},
}

MODEL_IMPORT = closed(
    {
        "import_id": TEXT,
        "name": TEXT,
        "source": TEXT,
        "status": {"enum": [RUNNING, FINISHED, FAILED]},
        "stage": TEXT,
        "done_bytes": {"type": "integer", "minimum": 0},
        "total_bytes": {"type": ["integer", "null"], "minimum": 0},
        "error": MAYBE_TEXT,
        "paths": {"type": "array", "items": TEXT},
        "started_at": {"type": "string", "format": "date-time"},
        "finished_at": MAYBE_TIME,
    }
)
MODEL_FILE = closed({"path": TEXT, "bytes": {"type": "integer", "minimum": 0}})
SERVER_MODEL = closed(
    {
        "name": TEXT,
        "english_only": {"type": "boolean"},
        "languages": {"type": "array", "items": TEXT},
        "files": {
            "type": "object",
            "properties": dict.fromkeys(ENGINE_NAMES, MODEL_FILE),
            "additionalProperties": False,
        },
        "size_bytes": {"type": "integer", "minimum": 0},
        "available": {"type": "boolean"},
        "loaded": {
            "type": "array",
            "items": closed({"decoder": {"type": "integer", "minimum": 0}, "device": TEXT}),
        },
        "last_used_at": MAYBE_TIME,
        "load_errors": {"type": "object", "additionalProperties": TEXT},
    }
)

SCHEMAS: dict[str, Any] = {
    "ServerModels": closed(
        {
            "models": {"type": "array", "items": SERVER_MODEL},
            "engine": MAYBE_TEXT,
            "max_model": MAYBE_TEXT,
            "imports": {"type": "array", "items": MODEL_IMPORT},
        }
    ),
    "ModelImport": MODEL_IMPORT,
    "ModelCommand": closed({"model": TEXT, "decoders": {"type": "array", "items": {"type": "integer"}}}),
    "DeletedModel": closed({"model": TEXT, "deleted": {"type": "array", "items": TEXT}}),
    "Error": closed(
        {
            "error": closed({"code": TEXT, "message": TEXT, "type": TEXT, "param": MAYBE_TEXT}),
            "detail": TEXT,
        }
    ),
    "Task": TASK,
    "TaskList": closed(
        {
            "tasks": {
                "type": "array",
                "items": closed({key: TASK["properties"][key] for key in TASK_SUMMARY_KEYS}),
            },
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        }
    ),
    "Deleted": closed({"task_id": TASK_ID, "status": {"enum": [outcome.value for outcome in CancelOutcome]}}),
    # One event's data: the task as it is now (status), how far it is (progress), its new place
    # in the queue (position), the segments decoded since the last (segments), or, last, that it
    # was cancelled and is gone.
    "TaskEvent": {
        "oneOf": [
            ref("Task"),
            closed({"task_id": TASK_ID, "position_in_queue": {"type": "integer", "minimum": 0}}),
            closed({"task_id": TASK_ID, "status": {"const": CANCELLED}}),
            closed(
                {
                    "task_id": TASK_ID,
                    "first": {"type": "integer", "minimum": 0},
                    "segments": {
                        "type": "array",
                        "items": closed({key: SEGMENT_PROPERTIES[key] for key in ("start", "end", "text")}),
                    },
                }
            ),
        ]
    },
    "Transcript": closed(
        {
            "text": TEXT,
            "language": TEXT,
            "duration": {"type": "number"},
            "segments": {"type": "array", "items": SEGMENT},
            "words": {"type": "array", "items": closed(WORD_PROPERTIES, optional=("speaker",))},
            "speakers": {"type": "array", "items": TEXT},
            "languages": LANGUAGE_SHARES,
        },
        optional=("words", "speakers", "languages"),
    ),
    "Language": closed(
        {
            "language": TEXT,
            "language_name": MAYBE_TEXT,
            "probability": {"type": "number", "minimum": 0},
            "languages": {
                "type": "array",
                "items": closed(
                    {"code": TEXT, "name": MAYBE_TEXT, "probability": {"type": "number", "minimum": 0}}
                ),
            },
            "windows": {"type": "integer", "minimum": 0},
        }
    ),
    "DecoderStatus": closed(
        {
            **_DECODER_FIELDS,
            "engine": MAYBE_TEXT,
            "tasks_in_queue": {"type": "integer", "minimum": 0},
            "received_at": MAYBE_TIME,
            # Empty on an API host (ROLE=api), which runs no decoder.
            "decoders": {
                "type": "array",
                "items": closed(
                    {
                        **_DECODER_FIELDS,
                        "decoder": {"type": "integer", "minimum": 0},
                        "cuda_device": MAYBE_TEXT,
                        # The threads its decoding runs (CPU_THREADS, or as the host placed it).
                        "cpu_threads": {"type": "integer", "minimum": 1},
                        "task_id": MAYBE_TEXT,
                        # Everything it holds: several tasks for a batch (BATCH_FILES).
                        "task_ids": {"type": "array", "items": TEXT},
                    }
                ),
            },
        }
    ),
    "Languages": closed(
        {
            "model": TEXT,
            "english_only": {"type": "boolean"},
            "tasks": {"type": "array", "items": {"enum": TASK_TYPES}, "minItems": 1},
            "languages": {"type": "array", "items": closed({"code": TEXT, "name": TEXT}), "minItems": 1},
        }
    ),
    "Version": closed({"version": TEXT}),
    "UserInfo": closed(
        {
            "user": MAYBE_TEXT,
            "email": MAYBE_TEXT,
            "authenticated": {"type": "boolean"},
            "may_download_logs": {"type": "boolean"},
        }
    ),
    "Health": closed({"status": {"const": "ok"}}),
    # `concern`: ready, with something the operator should know (an API host with no worker alive).
    "Readiness": closed(
        {"ready": {"type": "boolean"}, "reason": TEXT, "concern": TEXT}, optional=("reason", "concern")
    ),
    "ModelList": closed(
        {
            "object": {"const": "list"},
            "data": {
                "type": "array",
                "items": closed(
                    {
                        "id": TEXT,
                        "object": {"const": "model"},
                        "created": {"type": "integer"},
                        "owned_by": TEXT,
                    }
                ),
                "contains": closed(
                    {"id": {"const": OPENAI_MODEL}, "object": TEXT, "created": {}, "owned_by": TEXT}
                ),
            },
        }
    ),
    # OpenAI's bodies: json holds the text only, verbose_json the rest; both the usage.
    "OpenAITranscription": {
        "oneOf": [
            closed({"text": TEXT, "usage": USAGE}),
            closed(
                {
                    "task": {"enum": TASK_TYPES},
                    "language": TEXT,
                    "duration": {"type": "number"},
                    "text": TEXT,
                    "segments": {"type": "array", "items": SEGMENT},
                    "words": {"type": "array", "items": WORD},
                    "usage": USAGE,
                },
                optional=("segments", "words"),
            ),
            closed(
                {
                    "task": {"const": "transcribe"},
                    "duration": {"type": "number"},
                    "text": TEXT,
                    "segments": {"type": "array", "items": ref("OpenAIDiarizedSegment")},
                    "usage": USAGE,
                }
            ),
        ]
    },
    # One speaker's segment of OpenAI's diarized_json, and its streamed event.
    "OpenAIDiarizedSegment": closed(
        {
            "type": {"const": "transcript.text.segment"},
            "id": TEXT,
            "start": {"type": "number"},
            "end": {"type": "number"},
            "text": TEXT,
            "speaker": TEXT,
            "language": TEXT,
        },
        optional=("language",),
    ),
    # The events of OpenAI's streamed transcription (stream=true).
    "OpenAIStreamEvent": {
        "oneOf": [
            closed({"type": {"const": "transcript.text.delta"}, "delta": TEXT}),
            ref("OpenAIDiarizedSegment"),
            closed({"type": {"const": "transcript.text.done"}, "text": TEXT, "usage": USAGE}),
            closed({"type": {"const": "error"}, "error": closed({"message": TEXT, "type": TEXT})}),
        ]
    },
    # whisper-asr-webservice's POST /detect-language.
    "AsrLanguage": closed(
        {"detected_language": TEXT, "language_code": TEXT, "confidence": {"type": "number", "minimum": 0}}
    ),
    "OpenAPI": {"type": "object", "required": ["openapi", "info", "paths"]},
}
