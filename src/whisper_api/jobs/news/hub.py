"""The hub of job events: it hands what the tracker publishes to every client watching a task.

Every subscription buffers its own events, so a slow client holds up neither the publisher
nor the other clients:

- progress events coalesce: a new one replaces the subscriber's undelivered one, since only
  the latest fraction matters;
- every other event is kept. A subscriber that lets `max_pending` of them pile up has stopped
  reading; its subscription ends after the events it holds (an EventSource reconnects and
  starts again from a fresh snapshot). No status event is ever dropped silently.

Everything here runs on the event loop thread and never blocks. The HTTP side writes the
events out as Server-Sent Events (whisper_api.api.sse).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

PROGRESS = "progress"
MAX_PENDING = 64

JobEvent = tuple[str, dict[str, Any]]


class Subscription:
    """One client's events of one task, in publish order: iterate it, close() it when done."""

    def __init__(self, hub: EventHub, task_id: str, max_pending: int) -> None:
        self.task_id = task_id
        self._hub = hub
        self._max_pending = max_pending
        # A deque rather than an asyncio.Queue: coalescing takes an event out of the middle.
        self._pending: deque[JobEvent] = deque()
        self._changed = asyncio.Event()
        self._ended = False

    @property
    def ended(self) -> bool:
        """No further events will arrive (those already held are still delivered)."""
        return self._ended

    async def get(self) -> JobEvent | None:
        """The next event; None once the subscription has ended and everything held is read."""
        while not self._pending:
            if self._ended:
                return None
            self._changed.clear()
            await self._changed.wait()
        return self._pending.popleft()

    def close(self) -> None:
        """Unsubscribe and forget what is held: nobody reads it any more. Idempotent."""
        self._hub._remove(self)
        self._pending.clear()
        self._end()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> JobEvent:
        event = await self.get()
        if event is None:
            raise StopAsyncIteration
        return event

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _put(self, event: JobEvent) -> None:
        if self._ended:
            return
        if event[0] == PROGRESS:
            for index, (name, _) in enumerate(self._pending):
                if name == PROGRESS:
                    del self._pending[index]
                    break  # there is never more than one
        if len(self._pending) >= self._max_pending:
            log.warning("a client watching task %s stopped reading its events; its stream ends", self.task_id)
            self._hub._remove(self)
            self._end()
            return
        self._pending.append(event)
        self._changed.set()

    def _end(self) -> None:
        self._ended = True
        self._changed.set()


class EventHub:
    """Fans each task's events out to its subscribers. Use it from the event loop thread only."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self._max_pending = max_pending
        self._subscribers: dict[str, set[Subscription]] = {}
        self._closed = False
        self._on_watching: Callable[[], None] = lambda: None

    def on_watching_changed(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever a task gains its first subscriber or loses its last."""
        self._on_watching = callback

    def subscribe(self, task_id: str) -> Subscription:
        """Events of `task_id` published from now on; after close(), one that has already ended."""
        subscription = Subscription(self, task_id, self._max_pending)
        if self._closed:
            subscription._end()
        else:
            subscribers = self._subscribers.setdefault(task_id, set())
            subscribers.add(subscription)
            if len(subscribers) == 1:
                self._on_watching()
        return subscription

    def watched(self, task_id: str) -> bool:
        """Whether a client follows the task's events now."""
        return bool(self._subscribers.get(task_id))

    def watched_ids(self) -> list[str]:
        """The tasks that clients follow now."""
        return list(self._subscribers)

    def publish(self, task_id: str, event: str, data: dict[str, Any]) -> None:
        """Queue an event for every subscriber of the task, at once.

        `data` is shared, not copied, and serialised only when sent: do not change it afterwards.
        """
        # A copy: a subscriber that overflows removes itself while we go through them.
        for subscription in list(self._subscribers.get(task_id, ())):
            subscription._put((event, data))

    def close(self) -> None:
        """End every subscription (server shutdown): open streams finish so the server can stop."""
        self._closed = True
        subscriptions = [s for subscribers in self._subscribers.values() for s in subscribers]
        self._subscribers.clear()
        for subscription in subscriptions:
            subscription._end()

    def _remove(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.task_id)
        if subscribers is None:
            return
        subscribers.discard(subscription)
        if not subscribers:
            del self._subscribers[subscription.task_id]
            self._on_watching()
