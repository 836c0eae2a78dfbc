"""Turn detection on speech probabilities: server VAD's padding, silence and hysteresis, manual
commits, and the longest turn."""

from __future__ import annotations

from whisper_api.live.turns import FRAME_MS, Closed, Opened, ServerVad, TurnDetector


def frames(detector: TurnDetector, probabilities: list[float]) -> list[Opened | Closed]:
    happened: list[Opened | Closed] = []
    for index, probability in enumerate(probabilities):
        happened += detector.hear(bytes([index % 256]), probability)
    return happened


def test_server_vad_opens_with_padding_and_closes_after_the_silence() -> None:
    vad = ServerVad(threshold=0.5, prefix_padding_ms=FRAME_MS * 3, silence_duration_ms=FRAME_MS * 4)
    detector = TurnDetector(vad, max_turn_s=30)
    happened = frames(detector, [0.1] * 10 + [0.9] * 5 + [0.1] * 3 + [0.9] + [0.1] * 4)
    opened, closed = happened
    assert isinstance(opened, Opened) and isinstance(closed, Closed)
    assert closed.by_silence and closed.turn is opened.turn
    # Three frames of padding, then speech with a short pause in it, and the closing silence.
    assert len(closed.turn.frames) == 3 + 5 + 3 + 1 + 4
    assert closed.turn.start_ms == 7 * FRAME_MS
    assert closed.end_ms == 23 * FRAME_MS
    assert detector.turn is None


def test_a_probability_just_under_the_threshold_does_not_end_speech() -> None:
    vad = ServerVad(threshold=0.5, prefix_padding_ms=0, silence_duration_ms=FRAME_MS * 2)
    detector = TurnDetector(vad, max_turn_s=30)
    assert len(frames(detector, [0.9] + [0.4] * 10)) == 1
    assert detector.turn is not None
    assert isinstance(frames(detector, [0.3, 0.3])[-1], Closed)


def test_without_vad_the_client_commits_and_clears() -> None:
    detector = TurnDetector(None, max_turn_s=30)
    assert detector.commit() is None
    opened = frames(detector, [0.0] * 5)
    assert len(opened) == 1
    closed = detector.commit()
    assert closed is not None and not closed.by_silence and len(closed.turn.frames) == 5
    frames(detector, [0.0] * 2)
    dropped = detector.clear()
    assert dropped is not None and len(dropped.frames) == 2
    assert detector.commit() is None


def test_a_turn_ends_at_the_longest_a_turn_may_be() -> None:
    detector = TurnDetector(ServerVad(prefix_padding_ms=0), max_turn_s=1)
    happened = frames(detector, [0.9] * 40)
    closings = [event for event in happened if isinstance(event, Closed)]
    assert len(closings) == 1 and not closings[0].by_silence
    assert len(closings[0].turn.frames) == 1000 // FRAME_MS
    assert detector.turn is not None  # the speech goes on in a new turn
