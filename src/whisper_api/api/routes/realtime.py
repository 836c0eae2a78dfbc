"""OpenAI's Realtime transcription API over a WebSocket: `GET /v1/realtime?intent=transcription`.

The API key comes as for every route (the Authorization header), or, from a browser, as the
subprotocol `openai-insecure-api-key.<key>` beside `realtime` (whisper_api.api.middleware.auth), which also
refuses a browser page of an origin ALLOWED_ORIGINS does not name. A client event that cannot be
read is answered with an `error` event (and a warning line, a few a client at most) and the
session goes on; a session over LIVE_MAX_SESSIONS, or silent for LIVE_IDLE_TIMEOUT_S, gets an
`error` event and a close. A client that leaves an event unread for SEND_TIMEOUT_S is dropped,
and its session ends with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from asyncio import FIRST_COMPLETED
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.types import Message
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
from whisper_api.live.sessions import SEND_TIMEOUT_S

log = logging.getLogger(__name__)

# The subprotocol OpenAI's browser clients offer, answered in kind.
SUBPROTOCOL = "realtime"
# Close codes: the client broke a rule; the server is too busy now.
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013


class _Socket:
    """Sends events one at a time, each within SEND_TIMEOUT_S; `lost` is set once the client
    left or took too long, and the events after that are dropped."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._lock = asyncio.Lock()
        self.lost = asyncio.Event()

    async def send(self, event: dict[str, Any]) -> None:
        async with self._lock:
            if self.lost.is_set() or self.websocket.application_state != WebSocketState.CONNECTED:
                return
            try:
                await asyncio.wait_for(self.websocket.send_text(json.dumps(event)), SEND_TIMEOUT_S)
            except TimeoutError:
                log.info("dropped a live client that took no event for %g s", SEND_TIMEOUT_S)
                self.lost.set()
            except (WebSocketDisconnect, RuntimeError, OSError):
                log.debug("a live client left before an event reached it")
                self.lost.set()

    async def emit(self, event: LiveEvent) -> None:
        for each in events_of(event):
            await self.send(each)

    async def close_with(self, exc: JobError, code: int) -> None:
        await self.send(error_event(exc))
        async with self._lock:
            if not self.lost.is_set() and self.websocket.application_state == WebSocketState.CONNECTED:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.websocket.close(code=code, reason=exc.code), SEND_TIMEOUT_S)

    async def receive(self, timeout_s: float) -> Message | None:
        """The client's next message; None once it is lost; TimeoutError after `timeout_s`."""
        receiving = asyncio.ensure_future(self.websocket.receive())
        losing = asyncio.ensure_future(self.lost.wait())
        try:
            done, _ = await asyncio.wait((receiving, losing), timeout=timeout_s, return_when=FIRST_COMPLETED)
        finally:
            receiving.cancel()
            losing.cancel()
        if receiving in done:
            return receiving.result()
        if losing in done:
            return None
        raise TimeoutError


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
            await _serve(websocket, socket, session)
    except TooManySessions as exc:
        await socket.close_with(exc, TRY_AGAIN_LATER)
    except WebSocketDisconnect:
        return


async def _serve(websocket: WebSocket, socket: _Socket, session: LiveSession) -> None:
    live = services(websocket).live
    client = websocket.client.host if websocket.client else "?"
    idle_timeout_s, max_turn_s = live.limits.idle_timeout_s, live.limits.max_turn_s
    settings = RealtimeSettings()
    await socket.send(server_event("session.created", session=session_object(session.session_id, settings)))
    while not socket.lost.is_set():
        try:
            message = await socket.receive(idle_timeout_s)
        except TimeoutError:
            idle = NotServing(f"the session sent nothing for {idle_timeout_s:g} s and was closed")
            idle.code = "idle_timeout"
            await socket.close_with(idle, POLICY_VIOLATION)
            return
        if message is None or message["type"] == "websocket.disconnect":
            return
        event_id = None
        try:
            if message.get("text") is None:
                raise BadEvent("send events as JSON text frames", code="invalid_event")
            event = read_event(message["text"])
            event_id = event.event_id
            if event.type == "session.update":
                settings = updated(settings, event, services(websocket).decoders_ready())
                session.configure(settings.config)
                updated_session = session_object(session.session_id, settings)
                await socket.send(server_event("session.updated", session=updated_session))
            elif event.type == "input_audio_buffer.append":
                await session.append(audio_of(event, session.config.audio_format, max_turn_s))
            elif event.type == "input_audio_buffer.commit":
                await session.commit()
            elif event.type == "input_audio_buffer.clear":
                await session.clear()
            else:
                raise unknown_event(event)
        except JobError as exc:
            live.warnings.warn(client, "Realtime: refused an event from %s: %s", client, exc.message)
            await socket.send(error_event(exc, event_id))


ROUTES = [WebSocketRoute("/v1/realtime", realtime)]
