"""The host's live sessions, held to their limits: how many at once, how long a turn may be, how
long a session may stay silent, and how long a client may leave an event unread."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from whisper_api.jobs.errors import TooManySessions
from whisper_api.live.client_warnings import ClientWarnings
from whisper_api.live.events import LiveEvent
from whisper_api.live.session import LiveSession, SessionConfig, TurnDecoder

log = logging.getLogger(__name__)

# A client that has not taken an event in this long is dropped: it does not read, or is gone.
SEND_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LiveLimits:
    max_sessions: int
    max_turn_s: float
    idle_timeout_s: float


class LiveSessions:
    def __init__(self, decoders: TurnDecoder, limits: LiveLimits) -> None:
        self.decoders = decoders
        self.limits = limits
        self.open_sessions = 0
        # What clients of either protocol sent wrong, logged a few lines a client at most.
        self.warnings = ClientWarnings(log)

    @asynccontextmanager
    async def session(
        self, emit: Callable[[LiveEvent], Awaitable[None]], config: SessionConfig | None = None
    ) -> AsyncIterator[LiveSession]:
        """A new session, closed when the block ends; TooManySessions at the limit."""
        if self.open_sessions >= self.limits.max_sessions:
            raise TooManySessions(
                f"this server holds at most {self.limits.max_sessions} live sessions at once; try again later"
            )
        self.open_sessions += 1
        session = LiveSession(self.decoders, emit, self.limits.max_turn_s, config)
        try:
            yield session
        finally:
            self.open_sessions -= 1
            await session.close()
