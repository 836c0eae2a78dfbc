"""What the decoder has in hand, as its worker and its pipe reader share it."""

from __future__ import annotations

import pytest

from decoder.process.in_hand import Cancelled, InHand


def test_only_the_task_in_hand_is_stopped_and_the_next_one_starts_unstopped() -> None:
    in_hand = InHand()
    assert not in_hand.stop("a"), "nothing in hand"
    with in_hand.task("a"):
        assert in_hand.busy
        assert not in_hand.stop("b")
        in_hand.stop_if_cancelled()  # not asked yet: goes on
        assert in_hand.stop("a")
        with pytest.raises(Cancelled):
            in_hand.stop_if_cancelled()
    assert not in_hand.busy and not in_hand.stop("a")
    with in_hand.task("b"):
        in_hand.stop_if_cancelled()  # a's stop does not carry over


def test_each_task_of_a_batch_is_answered_once_by_whoever_comes_first() -> None:
    in_hand = InHand()
    with in_hand.batch(["a", "b"]) as answers:
        assert in_hand.busy
        assert in_hand.owed("a"), "the reader's cancel answers a"
        assert not in_hand.owed("a"), "so its result is dropped"
        assert not in_hand.stop("b"), "a batch decodes on"
        assert answers.take("b") and not in_hand.owed("b")
    assert not in_hand.busy and not in_hand.owed("c")


def test_a_detection_keeps_the_decoder_busy_while_it_runs() -> None:
    in_hand = InHand()
    with pytest.raises(RuntimeError), in_hand.detection():
        assert in_hand.busy
        raise RuntimeError
    assert not in_hand.busy
