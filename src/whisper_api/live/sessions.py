"""The host's live sessions, held to their limits: how many at once, how long a turn may be, and
how long a session may stay silent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from whisper_api.jobs.errors import TooManySessions
from whisper_api.live.events import LiveEvent
from whisper_api.live.session import LiveSession, SessionConfig, TurnDecoder


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
