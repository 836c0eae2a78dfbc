"""OpenAI's Realtime transcription API over a WebSocket: `GET /v1/realtime?intent=transcription`.

The API key comes as for every route (the Authorization header), or, from a browser, as the
subprotocol `openai-insecure-api-key.<key>` beside `realtime` (whisper_api.api.auth). A client
event that cannot be read is answered with an `error` event and the session goes on; a session
over LIVE_MAX_SESSIONS, or silent for LIVE_IDLE_TIMEOUT_S, gets an `error` event and a close.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from whisper_api.api.realtime import (
    BadEvent,
    RealtimeSettings,
    audio_of,
    error_event,
    events_of,
    read_event,
    server_event,
    session_object,
    unknown_event,
    updated,
)
from whisper_api.api.state import services
from whisper_api.jobs.errors import JobError, NotServing, TooManySessions
from whisper_api.live.events import LiveEvent
from whisper_api.live.session import LiveSession

log = logging.getLogger(__name__)

# The subprotocol OpenAI's browser clients offer, answered in kind.
SUBPROTOCOL = "realtime"
# Close codes: the client broke a rule; the server is too busy now.
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013


class _Socket:
    """Sends events one at a time, and drops those that come after the client left."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._lock = asyncio.Lock()

    async def send(self, event: dict[str, Any]) -> None:
        async with self._lock:
            if self.websocket.application_state != WebSocketState.CONNECTED:
                return
            try:
                await self.websocket.send_text(json.dumps(event))
            except (WebSocketDisconnect, RuntimeError, OSError):
                log.debug("a live client left before an event reached it")

    async def emit(self, event: LiveEvent) -> None:
        for each in events_of(event):
            await self.send(each)

    async def close_with(self, exc: JobError, code: int) -> None:
        await self.send(error_event(exc))
        async with self._lock:
            if self.websocket.application_state == WebSocketState.CONNECTED:
                await self.websocket.close(code=code, reason=exc.code)


async def realtime(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    socket = _Socket(websocket)
    intent = websocket.query_params.get("intent", "transcription")
    if intent != "transcription":
        message = (
            f"intent {intent!r} is not served: this server does transcription sessions (intent=transcription)"
        )
        await socket.close_with(BadEvent(message, param="intent"), POLICY_VIOLATION)
        return
    live = services(websocket).live
    try:
        async with live.session(socket.emit) as session:
            await _serve(websocket, socket, session, live.limits.idle_timeout_s)
    except TooManySessions as exc:
        await socket.close_with(exc, TRY_AGAIN_LATER)
    except WebSocketDisconnect:
        return


async def _serve(websocket: WebSocket, socket: _Socket, session: LiveSession, idle_timeout_s: float) -> None:
    settings = RealtimeSettings()
    await socket.send(server_event("session.created", session=session_object(session.session_id, settings)))
    while True:
        try:
            message = await asyncio.wait_for(websocket.receive(), idle_timeout_s)
        except TimeoutError:
            idle = NotServing(f"the session sent nothing for {idle_timeout_s:g} s and was closed")
            idle.code = "idle_timeout"
            await socket.close_with(idle, POLICY_VIOLATION)
            return
        if message["type"] == "websocket.disconnect":
            return
        event_id = None
        try:
            if message.get("text") is None:
                raise BadEvent("send events as JSON text frames", code="invalid_event")
            event = read_event(message["text"])
            event_id = event.event_id
            if event.type == "session.update":
                settings = updated(settings, event, services(websocket).pool.ready)
                session.configure(settings.config)
                updated_session = session_object(session.session_id, settings)
                await socket.send(server_event("session.updated", session=updated_session))
            elif event.type == "input_audio_buffer.append":
                await session.append(audio_of(event))
            elif event.type == "input_audio_buffer.commit":
                await session.commit()
            elif event.type == "input_audio_buffer.clear":
                await session.clear()
            else:
                raise unknown_event(event)
        except JobError as exc:
            await socket.send(error_event(exc, event_id))


ROUTES = [WebSocketRoute("/v1/realtime", realtime)]
