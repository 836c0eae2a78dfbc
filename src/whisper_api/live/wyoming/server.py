"""The Wyoming server of the running app: its connections, each held to the live limits.

- At most `max_connections` at once; one more is told so with an `error` event and closed.
- A connection that completes no event for LIVE_IDLE_TIMEOUT_S is told so and closed.
- A client that leaves an event unread for SEND_TIMEOUT_S is dropped (framing.write_event).
- A malformed message (framing.BadFrame) or one that cannot be served (a JobError) gets an
  `error` event and one warning line, a few a client at most (ClientWarnings); the connection
  goes on unless its framing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from wyoming.error import Error
from wyoming.event import Event

from decoder.wire.protocol import DecoderReady
from whisper_api.jobs.errors import JobError
from whisper_api.live.sessions import LiveSessions
from whisper_api.live.wyoming.framing import MAX_HEADER_BYTES, BadFrame, read_event, write_event
from whisper_api.live.wyoming.handler import WyomingHandler

log = logging.getLogger(__name__)

# Connections per live session the host holds, for Home Assistant's describe and idle ones.
CONNECTIONS_PER_SESSION = 2
MIN_CONNECTIONS = 4


class WyomingService:
    def __init__(self, live: LiveSessions, ready: Callable[[], DecoderReady | None]) -> None:
        self._live = live
        self._ready = ready
        self.max_connections = max(MIN_CONNECTIONS, CONNECTIONS_PER_SESSION * live.limits.max_sessions)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._connection, host, port, limit=MAX_HEADER_BYTES)
        log.info("Wyoming speech to text on %s:%d", host, port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) else "?"
        if len(self._connections) >= self.max_connections:
            self._warn(client, "a refused connection", f"{self.max_connections} are open")
            busy = f"this server holds at most {self.max_connections} Wyoming connections; try again later"
            await self._say(writer, Error(text=busy, code="too_many_connections").event())
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        handler = WyomingHandler(self._live, self._ready, lambda event: write_event(writer, event))
        try:
            await self._serve(client, reader, writer, handler)
        except (TimeoutError, ConnectionError) as exc:
            log.debug("Wyoming: dropped a client that does not read or is gone (%s)", type(exc).__name__)
        finally:
            self._connections.discard(task)
            await handler.close()
            # Aborted, not closed: a close would wait for a client that does not read.
            writer.transport.abort()

    async def _serve(
        self, client: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: WyomingHandler
    ) -> None:
        idle_s = self._live.limits.idle_timeout_s
        while True:
            try:
                event = await asyncio.wait_for(read_event(reader), idle_s)
            except TimeoutError:
                idle = f"the connection sent nothing for {idle_s:g} s and was closed"
                await self._say(writer, Error(text=idle, code="idle_timeout").event())
                return
            except BadFrame as exc:
                self._warn(client, "a malformed message", exc.message)
                await write_event(writer, Error(text=exc.message, code="invalid_event").event())
                if exc.lost:
                    return
                continue
            if event is None:
                return
            try:
                await handler.handle(event)
            except JobError as exc:
                self._warn(client, f"a refused {event.type!r}", exc.message)
                await write_event(writer, Error(text=exc.message, code=exc.code).event())

    def _warn(self, client: str, what: str, why: str) -> None:
        self._live.warnings.warn(client, "Wyoming: %s from %s: %s", what, client, why)

    @staticmethod
    async def _say(writer: asyncio.StreamWriter, event: Event) -> None:
        """A last word to a client about to be closed, if it takes it in time."""
        try:
            await write_event(writer, event)
        except (TimeoutError, ConnectionError):
            log.debug("Wyoming: a client left before its last event reached it")
