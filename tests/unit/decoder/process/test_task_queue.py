from __future__ import annotations

import threading
import time

import pytest

from decoder.process.task_queue import ModelCommand, QueueClosed, Queued, TaskQueue
from decoder.wire.protocol import DecodeTurn, LoadModel, SubmitBatch, SubmitTask, UnloadModel


def task(task_id: str) -> SubmitTask:
    return SubmitTask(task_id, f"/tmp/{task_id}.wav", "transcribe", None)


def test_fifo_with_positions() -> None:
    queue = TaskQueue()
    for name in "abc":
        queue.put(task(name))
    # The decoder reports this order; a task's place in it is its position (0 runs next).
    assert queue.task_ids() == ("a", "b", "c")
    popped = queue.pop(timeout=0)
    assert popped == task("a")
    assert queue.task_ids().index("c") == 1
    assert "a" not in queue.task_ids()


def test_pop_times_out_when_empty() -> None:
    queue = TaskQueue()
    started = time.monotonic()
    assert queue.pop(timeout=0.05) is None
    assert time.monotonic() - started >= 0.05


def test_pop_wakes_up_for_a_new_task() -> None:
    queue = TaskQueue()
    got: list[Queued | DecodeTurn | ModelCommand | None] = []
    waiter = threading.Thread(target=lambda: got.append(queue.pop(timeout=30)))
    waiter.start()
    queue.put(task("late"))
    waiter.join(timeout=5)
    assert not waiter.is_alive()
    assert got == [task("late")]


def test_close_wakes_a_waiting_worker() -> None:
    queue = TaskQueue()
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            queue.pop(timeout=None)
        except QueueClosed as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    queue.close()
    waiter.join(timeout=5)
    assert len(errors) == 1
    queue.put(task("after"))
    with pytest.raises(QueueClosed):
        queue.pop(timeout=0)


def test_remove_drops_only_waiting_tasks() -> None:
    queue = TaskQueue()
    for name in "abc":
        queue.put(task(name))
    assert queue.remove("b") is True
    assert queue.remove("b") is False
    assert queue.task_ids() == ("a", "c")


def test_a_task_is_taken_out_of_a_waiting_batch() -> None:
    queue = TaskQueue()
    queue.put(SubmitBatch((task("a"), task("b"))))
    queue.put(SubmitBatch((task("c"),)))
    assert queue.task_ids() == ("a", "b", "c")
    assert queue.remove("a") and queue.remove("c") and not queue.remove("a")
    assert queue.task_ids() == ("b",)
    assert queue.pop(timeout=0) == SubmitBatch((task("b"),))


def turn(turn_id: str, session_id: str = "s1", *, partial: bool = False) -> DecodeTurn:
    return DecodeTurn(turn_id, session_id, b"", partial=partial)


def test_live_turns_go_before_every_task() -> None:
    queue = TaskQueue()
    queue.put(task("a"))
    queue.put_turn(turn("t1"))
    assert queue.pop(timeout=0) == turn("t1")
    # Between two windows of "a", the worker asks for turns only.
    queue.put_turn(turn("t2"))
    assert queue.pop_turn() == turn("t2")
    assert queue.pop_turn() is None
    assert queue.pop(timeout=0) == task("a")


def test_a_newer_partial_replaces_its_session_s_waiting_one_only() -> None:
    queue = TaskQueue()
    queue.put_turn(turn("p1", partial=True))
    queue.put_turn(turn("other", "s2", partial=True))
    queue.put_turn(turn("final"))
    assert queue.put_turn(turn("p2", partial=True)) == [turn("p1", partial=True)]
    popped = [queue.pop_turn() for _ in range(4)]
    assert popped == [turn("other", "s2", partial=True), turn("final"), turn("p2", partial=True), None]


def test_model_commands_go_after_live_turns_and_before_tasks() -> None:
    queue = TaskQueue()
    queue.put(task("first"))
    queue.put_command(LoadModel("base"))
    queue.put_command(UnloadModel("tiny"))
    queue.put_turn(turn("t1"))
    popped = [queue.pop(timeout=0) for _ in range(4)]
    assert popped == [turn("t1"), LoadModel("base"), UnloadModel("tiny"), task("first")]
    assert queue.task_ids() == ()
