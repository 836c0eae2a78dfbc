"""What the decoder process has in hand, which its two threads share: the worker decodes it,
and the pipe reader (decoder.process.service) hears the front end's CancelTask for it.

A single task stops at its next window: `stop_if_cancelled` raises Cancelled there. A batch
decodes on; a task of it that is cancelled is answered at once, and its result is dropped
(decoder.process.batch.Unanswered: whoever takes a task first answers it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from decoder.process.batch import Unanswered


class Cancelled(Exception):
    """A CancelTask asked the task in hand to stop: control flow, never a failure."""


class InHand:
    def __init__(self) -> None:
        # Whether the worker decodes or detects anything, for DecoderStatus.
        self.busy = False
        self._task: str | None = None
        self._stop = threading.Event()
        self._batch: Unanswered | None = None

    @contextmanager
    def task(self, task_id: str) -> Iterator[None]:
        """The worker decodes one task."""
        self._stop.clear()
        self.busy, self._task = True, task_id
        try:
            yield
        finally:
            self.busy, self._task = False, None

    @contextmanager
    def batch(self, task_ids: Iterable[str]) -> Iterator[Unanswered]:
        """The worker decodes tasks together; each is still owed its answer."""
        answers = self._batch = Unanswered(task_ids)
        self.busy = True
        try:
            yield answers
        finally:
            self.busy, self._batch = False, None

    @contextmanager
    def detection(self) -> Iterator[None]:
        """The worker detects a file's language (too short a job to stop)."""
        self.busy = True
        try:
            yield
        finally:
            self.busy = False

    def owed(self, task_id: str) -> bool:
        """Whether a task of the batch in hand is still owed its answer: True once, to the one
        caller (the reader's cancel, or the worker's result) that is to give it."""
        batch = self._batch
        return batch is not None and batch.take(task_id)

    def stop(self, task_id: str) -> bool:
        """Ask the single task in hand to stop at its next window; False if it is not in hand."""
        if task_id != self._task:
            return False
        self._stop.set()
        return True

    def stop_if_cancelled(self) -> None:
        if self._stop.is_set():
            raise Cancelled
