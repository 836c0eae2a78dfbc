"""The decoder's FIFO of waiting tasks, shared by its pipe-reader thread and its worker, with a
lane of live turns that go before everything, and one of model loads and unloads that go before
every task."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque

from decoder.wire.protocol import DecodeTurn, DetectLanguage, LoadModel, SubmitBatch, SubmitTask, UnloadModel

# Language detection waits in the same queue as decoding: the model does one thing at a time.
Queued = SubmitTask | SubmitBatch | DetectLanguage
ModelCommand = LoadModel | UnloadModel


def _ids(task: Queued) -> tuple[str, ...]:
    return task.task_ids if isinstance(task, SubmitBatch) else (task.task_id,)


class QueueClosed(Exception):
    """The queue was closed: the decoder is shutting down."""


class TaskQueue:
    def __init__(self) -> None:
        self._tasks: deque[Queued] = deque()
        self._turns: deque[DecodeTurn] = deque()
        self._commands: deque[ModelCommand] = deque()
        self._changed = threading.Condition()
        self._closed = False

    def put(self, task: Queued) -> None:
        with self._changed:
            self._tasks.append(task)
            self._changed.notify_all()

    def put_command(self, command: ModelCommand) -> None:
        """Queue a model load or unload, to be done before the next task."""
        with self._changed:
            self._commands.append(command)
            self._changed.notify_all()

    def put_turn(self, turn: DecodeTurn) -> list[DecodeTurn]:
        """Queue a live turn ahead of every task; a partial one replaces its session's waiting
        partial, whose speech it holds and more. Returns the turns it replaced."""
        with self._changed:
            stale = [t for t in self._turns if turn.partial and t.partial and t.session_id == turn.session_id]
            for waiting in stale:
                self._turns.remove(waiting)
            self._turns.append(turn)
            self._changed.notify_all()
            return stale

    def pop_turn(self) -> DecodeTurn | None:
        """The next live turn, if one waits."""
        with self._changed:
            return self._turns.popleft() if self._turns else None

    def pop(self, timeout: float | None) -> Queued | DecodeTurn | ModelCommand | None:
        """The next live turn, or else the next model command, or else the next task, waiting up
        to `timeout` seconds (None: for ever) for one.

        Returns None on timeout; raises QueueClosed once closed, even with tasks left.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not self._tasks and not self._turns and not self._commands and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._changed.wait(remaining)
            if self._closed:
                raise QueueClosed
            lane: deque[Queued] | deque[DecodeTurn] | deque[ModelCommand] = (
                self._turns if self._turns else self._commands if self._commands else self._tasks
            )
            return lane.popleft()

    def remove(self, task_id: str) -> bool:
        """Drop a waiting task, alone or out of a waiting batch; False if it is not waiting (any
        more)."""
        with self._changed:
            for index, task in enumerate(self._tasks):
                if task_id not in _ids(task):
                    continue
                if isinstance(task, SubmitBatch) and len(task.tasks) > 1:
                    rest = tuple(member for member in task.tasks if member.task_id != task_id)
                    self._tasks[index] = dataclasses.replace(task, tasks=rest)
                else:
                    del self._tasks[index]
                return True
            return False

    def task_ids(self) -> tuple[str, ...]:
        with self._changed:
            return tuple(task_id for task in self._tasks for task_id in _ids(task))

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
