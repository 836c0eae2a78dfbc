"""Which uploads may start: room in the queue, counting the uploads still arriving.

The queue limit is checked before the body is read, so that a refused upload costs no disk
and no time. Uploads in progress hold a place from then until their job is queued (or they
fail), so that however many arrive at once, no more than MAX_TASK_QUEUE_SIZE tasks are ever
accepted; MAX_CONCURRENT_UPLOADS caps how many bodies are read at the same time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from whisper_api.jobs.errors import NoRoom, NotServing


class Draining(NotServing):
    retry_after_s = 30


class Admission:
    def __init__(self, max_queued: int, max_uploading: int, waiting: Callable[[], Awaitable[int]]) -> None:
        self._max_queued = max_queued
        self._max_uploading = max_uploading
        # How many accepted tasks wait in the queue now (with a shared queue, the database says).
        self._waiting = waiting
        self.uploading = 0
        self.draining = False

    @contextlib.asynccontextmanager
    async def place(self) -> AsyncIterator[None]:
        """Hold a place in the queue for one upload, or refuse it (503 draining, 429 full). The
        place is held while the queue is counted, so that uploads counted at once never pass
        the limit together."""
        if self.draining:
            raise Draining("the server is shutting down; try again shortly")
        if self.uploading >= self._max_uploading:
            raise NoRoom(
                f"{self._max_uploading} uploads are already in progress (MAX_CONCURRENT_UPLOADS); "
                "try again later"
            )
        self.uploading += 1
        try:
            if await self._waiting() + self.uploading > self._max_queued:
                raise NoRoom(f"{self._max_queued} tasks are already waiting or uploading; try again later")
            yield
        finally:
            self.uploading -= 1
