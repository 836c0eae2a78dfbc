"""Job events as Server-Sent Events: a hub that hands what the tracker publishes to every client
watching a task, and the streaming response that writes them out.

A client that connects late must still learn the job's state. `sse_response` subscribes first
and only then takes the snapshot, so an event published in between is queued, not lost; it
may repeat what the snapshot already shows, which a client applies harmlessly.

Every subscription buffers its own events, so a slow client holds up neither the publisher
nor the other clients:

- progress events coalesce: a new one replaces the subscriber's undelivered one, since only
  the latest fraction matters;
- every other event is kept. A subscriber that lets `max_pending` of them pile up has stopped
  reading; its subscription ends after the events it holds (an EventSource reconnects and
  starts again from a fresh snapshot). No status event is ever dropped silently.

Everything here runs on the event loop thread and never blocks.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

log = logging.getLogger(__name__)

PROGRESS = "progress"
MAX_PENDING = 64
KEEPALIVE = b": keepalive\n\n"

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

    def subscribe(self, task_id: str) -> Subscription:
        """Events of `task_id` published from now on; after close(), one that has already ended."""
        subscription = Subscription(self, task_id, self._max_pending)
        if self._closed:
            subscription._end()
        else:
            self._subscribers.setdefault(task_id, set()).add(subscription)
        return subscription

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


async def sse_response(
    hub: EventHub,
    task_id: str,
    snapshot: Callable[[], Awaitable[JobEvent]],
    is_final: Callable[[str, dict[str, Any]], bool],
    keepalive_s: float = 15.0,
) -> StreamingResponse:
    """A text/event-stream of the task: `snapshot()` first, then its events as they come.

    `snapshot` is awaited after subscribing and may raise (an unknown task, say): the error
    propagates before any response starts, and the subscription is closed. The stream ends
    after an event for which `is_final` is true, the snapshot included, or when the hub closes.
    """
    subscription = hub.subscribe(task_id)
    try:
        first = await snapshot()
    except BaseException:
        subscription.close()
        raise
    return _EventStream(subscription, first, is_final, keepalive_s)


class _EventStream(StreamingResponse):
    def __init__(
        self,
        subscription: Subscription,
        first: JobEvent,
        is_final: Callable[[str, dict[str, Any]], bool],
        keepalive_s: float,
    ) -> None:
        super().__init__(
            _frames(subscription, first, is_final, keepalive_s),
            media_type="text/event-stream",
            # Proxies (nginx) must pass every event on at once instead of buffering the body.
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Unsubscribing here rather than in the generator's finally: when the client goes away
        # during a send, Starlette leaves closing the generator to the garbage collector.
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._subscription.close()


async def _frames(
    subscription: Subscription,
    first: JobEvent,
    is_final: Callable[[str, dict[str, Any]], bool],
    keepalive_s: float,
) -> AsyncIterator[bytes]:
    yield _frame(first)
    if is_final(*first):
        return
    while True:
        try:
            event = await asyncio.wait_for(subscription.get(), keepalive_s)
        except TimeoutError:
            # Idle connections must carry something, or proxies and browsers time them out.
            yield KEEPALIVE
            continue
        if event is None:
            return
        yield _frame(event)
        if is_final(*event):
            return


def _frame(event: JobEvent) -> bytes:
    name, data = event
    # json.dumps without indent writes one line, as a single `data:` field needs.
    payload = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n".encode()
