"""OpenAI's Realtime transcription protocol (the GA event shapes): client events read into a
session's settings and calls, and a session's events written as OpenAI's server events.

    session.update                 -> SessionConfig (format, transcription, turn_detection)
    input_audio_buffer.append      -> LiveSession.append (base64 audio)
    input_audio_buffer.commit      -> LiveSession.commit
    input_audio_buffer.clear       -> LiveSession.clear

A client event that cannot be read raises BadEvent, which the endpoint answers with an `error`
event; the session goes on. An append holds at most a turn's audio (LIVE_MAX_TURN_S), and the
server reads no WebSocket message longer than max_event_bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from decoder.wire.protocol import DecoderReady
from whisper_api.jobs.errors import JobError, Refused
from whisper_api.jobs.intake.options import MAX_PROMPT_CHARS, check_language
from whisper_api.live.events import (
    Cleared,
    Committed,
    LiveEvent,
    SpeechStarted,
    SpeechStopped,
    TextDelta,
    TurnCompleted,
    TurnNotDecoded,
)
from whisper_api.live.formats import OPENAI_FORMATS, AudioFormat
from whisper_api.live.session import SessionConfig
from whisper_api.live.turns import ServerVad

CLIENT_EVENTS = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
)
INPUT = "session.audio.input"
BUFFER = "input_audio_buffer"
TRANSCRIPTION = "conversation.item.input_audio_transcription"
# What OpenAI's clients ask for; the server's own model answers, whichever is named.
DEFAULT_MODEL = "whisper-1"
# semantic_vad's eagerness, as the silence that ends a turn under server VAD.
EAGERNESS_SILENCE_MS = {"low": 1000, "medium": 500, "auto": 500, "high": 250}
# What an event holds besides its audio, at most.
EVENT_FIELDS_BYTES = 64 * 1024


def max_event_bytes(max_turn_s: int) -> int:
    """The longest WebSocket message read: a turn of the densest format as base64, and the rest."""
    densest = max(audio_format.bytes_per_second for audio_format in OPENAI_FORMATS.values())
    return _base64_length(densest * max_turn_s) + EVENT_FIELDS_BYTES


def _base64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


class BadEvent(Refused):
    def __init__(self, message: str, *, code: str = "invalid_value", param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.code = code


@dataclass(frozen=True)
class ClientEvent:
    type: str
    event_id: str | None
    body: Mapping[str, Any]


def read_event(text: str) -> ClientEvent:
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise BadEvent("the event is not JSON", code="invalid_json") from exc
    except RecursionError as exc:
        raise BadEvent("the event is nested too deeply", code="invalid_json") from exc
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise BadEvent("an event is a JSON object with a string 'type'", code="invalid_event", param="type")
    event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
    return ClientEvent(event["type"], event_id, event)


def unknown_event(event: ClientEvent) -> BadEvent:
    known = ", ".join(CLIENT_EVENTS)
    message = f"unknown event type {event.type!r}; a transcription session takes {known}"
    return BadEvent(message, code="unknown_event", param="type")


def audio_of(event: ClientEvent, audio_format: AudioFormat, max_turn_s: float) -> bytes:
    """An append's audio, at most a turn's worth in the session's format."""
    audio = event.body.get("audio")
    if not isinstance(audio, str):
        raise BadEvent(
            "input_audio_buffer.append needs 'audio': base64 audio", code="missing_audio", param="audio"
        )
    if len(audio) > _base64_length(int(audio_format.bytes_per_second * max_turn_s)):
        message = f"an append holds at most {max_turn_s:g} s of audio (a turn's longest); send it in parts"
        raise BadEvent(message, code="audio_too_large", param="audio")
    try:
        return base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadEvent("'audio' is not valid base64", code="invalid_base64", param="audio") from exc


@dataclass(frozen=True)
class RealtimeSettings:
    """A session's settings as the client sees them: the decoding's, and the model it named."""

    config: SessionConfig = field(default_factory=SessionConfig)
    model: str = DEFAULT_MODEL


def updated(settings: RealtimeSettings, event: ClientEvent, ready: DecoderReady | None) -> RealtimeSettings:
    """The settings after a session.update (the fields it leaves out keep their values)."""
    session = _object(event.body, "session")
    if session.get("type", "transcription") != "transcription":
        raise BadEvent(
            "this endpoint serves transcription sessions: session.type must be 'transcription'",
            param="session.type",
        )
    audio_input = _object(_object(session, "audio", "session"), "input", "session.audio")
    config, model = settings.config, settings.model
    if "format" in audio_input:
        config = replace(config, audio_format=_format(_object(audio_input, "format", INPUT)))
    if "transcription" in audio_input:
        transcription = _object(audio_input, "transcription", INPUT)
        model = str(transcription.get("model") or model)
        prompt = transcription.get("prompt")
        language = transcription.get("language")
        if (language is not None and not isinstance(language, str)) or (
            prompt is not None and not isinstance(prompt, str)
        ):
            raise BadEvent("transcription's language and prompt are strings", param=f"{INPUT}.transcription")
        if prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
            message = f"the prompt is longer than {MAX_PROMPT_CHARS} characters"
            raise BadEvent(message, param=f"{INPUT}.transcription.prompt")
        try:
            code = check_language(language, ready) if ready is not None else language
        except JobError as exc:
            raise BadEvent(exc.message, param=f"{INPUT}.transcription.language") from exc
        config = replace(config, language=code, prompt=prompt or None)
    if "turn_detection" in audio_input:
        config = replace(config, vad=_turn_detection(audio_input["turn_detection"]))
    return RealtimeSettings(config, model)


def _object(body: Mapping[str, Any], name: str, parent: str = "") -> Mapping[str, Any]:
    value = body.get(name) if name in body else {}
    if not isinstance(value, dict):
        path = f"{parent}.{name}" if parent else name
        raise BadEvent(f"{path} must be an object", param=path)
    return value


def _format(fields: Mapping[str, Any]) -> Any:
    kind = fields.get("type", "audio/pcm")
    if kind not in OPENAI_FORMATS:
        known = ", ".join(OPENAI_FORMATS)
        raise BadEvent(f"unknown audio format {kind!r}; use one of {known}", param=f"{INPUT}.format.type")
    audio_format = OPENAI_FORMATS[kind]
    if fields.get("rate", audio_format.rate) != audio_format.rate:
        message = f"{kind} is taken at {audio_format.rate} Hz only"
        raise BadEvent(message, param=f"{INPUT}.format.rate")
    return audio_format


def _turn_detection(value: Any) -> ServerVad | None:
    if value is None:
        return None
    path = f"{INPUT}.turn_detection"
    if not isinstance(value, dict) or value.get("type") not in ("server_vad", "semantic_vad"):
        raise BadEvent(
            "turn_detection is null, or an object of type 'server_vad' or 'semantic_vad'", param=path
        )
    if value["type"] == "semantic_vad":
        silence = EAGERNESS_SILENCE_MS.get(str(value.get("eagerness", "auto")), 500)
        return ServerVad(silence_duration_ms=silence)
    default = ServerVad()
    threshold = value.get("threshold", default.threshold)
    padding = value.get("prefix_padding_ms", default.prefix_padding_ms)
    silence = value.get("silence_duration_ms", default.silence_duration_ms)
    if not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise BadEvent("threshold is a number from 0 to 1", param=f"{path}.threshold")
    for name, number in (("prefix_padding_ms", padding), ("silence_duration_ms", silence)):
        if not isinstance(number, int) or not 0 <= number <= 10_000:
            raise BadEvent(f"{name} is a whole number of milliseconds up to 10000", param=f"{path}.{name}")
    return ServerVad(float(threshold), padding, silence)


def session_object(session_id: str, settings: RealtimeSettings) -> dict[str, Any]:
    config = settings.config
    kind = next(name for name, known in OPENAI_FORMATS.items() if known == config.audio_format)
    audio_format: dict[str, Any] = {"type": kind}
    if kind == "audio/pcm":
        audio_format["rate"] = config.audio_format.rate
    vad = config.vad
    turn_detection = (
        None
        if vad is None
        else {
            "type": "server_vad",
            "threshold": vad.threshold,
            "prefix_padding_ms": vad.prefix_padding_ms,
            "silence_duration_ms": vad.silence_duration_ms,
        }
    )
    transcription = {"model": settings.model, "language": config.language, "prompt": config.prompt or ""}
    return {
        "type": "transcription",
        "object": "realtime.transcription_session",
        "id": session_id,
        "expires_at": 0,
        "audio": {
            "input": {
                "format": audio_format,
                "transcription": transcription,
                "turn_detection": turn_detection,
                "noise_reduction": None,
            }
        },
        "include": [],
    }


def server_event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": f"event_{uuid.uuid4().hex[:20]}", **fields}


def error_event(exc: JobError, client_event_id: str | None = None) -> dict[str, Any]:
    kind = "invalid_request_error" if isinstance(exc, Refused) else "server_error"
    error = {
        "type": kind,
        "code": exc.code,
        "message": exc.message,
        "param": exc.param,
        "event_id": client_event_id,
    }
    return server_event("error", error=error)


def events_of(event: LiveEvent) -> list[dict[str, Any]]:
    """OpenAI's server events for one of a session's events."""
    item = event.item_id
    if isinstance(event, SpeechStarted):
        return [server_event(f"{BUFFER}.speech_started", audio_start_ms=event.audio_start_ms, item_id=item)]
    if isinstance(event, SpeechStopped):
        return [server_event(f"{BUFFER}.speech_stopped", audio_end_ms=event.audio_end_ms, item_id=item)]
    if isinstance(event, Committed):
        user_message = {
            "id": item,
            "type": "message",
            "object": "realtime.item",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        previous = event.previous_item_id
        return [
            server_event(f"{BUFFER}.committed", item_id=item, previous_item_id=previous),
            server_event("conversation.item.added", item=user_message, previous_item_id=previous),
        ]
    if isinstance(event, Cleared):
        return [server_event(f"{BUFFER}.cleared")]
    if isinstance(event, TextDelta):
        return [server_event(f"{TRANSCRIPTION}.delta", item_id=item, content_index=0, delta=event.delta)]
    if isinstance(event, TurnCompleted):
        usage = {"type": "duration", "seconds": round(event.audio_s, 3)}
        completed = server_event(
            f"{TRANSCRIPTION}.completed", item_id=item, content_index=0, transcript=event.text, usage=usage
        )
        return [completed | {"language": event.language, "received_at": time.time()}]
    assert isinstance(event, TurnNotDecoded)
    error = {"type": "server_error", "code": "transcription_failed", "message": event.reason, "param": None}
    return [server_event(f"{TRANSCRIPTION}.failed", item_id=item, content_index=0, error=error)]
