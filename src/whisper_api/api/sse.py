"""A task's job events as a Server-Sent Events response.

A client that connects late must still learn the job's state. `sse_response` subscribes first
and only then takes the snapshot, so an event published in between is queued, not lost; it
may repeat what the snapshot already shows, which a client applies harmlessly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from whisper_api.jobs.news.hub import EventHub, JobEvent, Subscription

KEEPALIVE = b": keepalive\n\n"
# Proxies (nginx) must pass every event on at once instead of buffering the body.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


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
    return SubscribedStream(_frames(subscription, first, is_final, keepalive_s), subscription)


class SubscribedStream(StreamingResponse):
    """A text/event-stream body read from a hub subscription, which it closes when it ends."""

    def __init__(self, body: AsyncIterator[bytes], subscription: Subscription) -> None:
        super().__init__(body, media_type="text/event-stream", headers=STREAM_HEADERS)
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
