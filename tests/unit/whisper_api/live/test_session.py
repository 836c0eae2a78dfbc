"""A live session with a decoder stand-in: events in order, partial text that grows into the
final text, turns that end in the order they were committed, and back-pressure."""

from __future__ import annotations

import asyncio

import pytest

from decoder.wire.protocol import DecodeTurn, TurnDecoded
from tests.support.live_speech import pcm_of
from tests.support.speech import PARAGRAPHS, speak
from whisper_api.live.events import (
    Committed,
    LiveEvent,
    SpeechStarted,
    SpeechStopped,
    TextDelta,
    TurnCompleted,
)
from whisper_api.live.session import MAX_WAITING_TURNS, EmptyCommit, LiveSession, SessionConfig

WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
SAMPLE_BYTES = 4  # float32 at 16 kHz


class WordsPerSecond:
    """Hears a word for each second of audio; a final turn waits for its gate where one is set."""

    def __init__(self) -> None:
        self.gates: dict[int, asyncio.Event] = {}
        self.finals = 0
        self.waiting = 0

    async def decode(self, turn: DecodeTurn) -> TurnDecoded:
        seconds = len(turn.audio) // (16000 * SAMPLE_BYTES)
        if not turn.partial:
            self.finals += 1
            gate = self.gates.get(self.finals)
            if gate is not None:
                self.waiting += 1
                await gate.wait()
                self.waiting -= 1
        return TurnDecoded(turn.turn_id, " ".join(WORDS[: max(seconds, 1)]), "en", 0.01)

    def forget(self, session_id: str) -> None:
        pass


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return pcm_of(speak(PARAGRAPHS[3], tmp_path_factory.mktemp("session") / "speech.wav"))


async def _spoken_turn(speech: bytes) -> list[LiveEvent]:
    events: list[LiveEvent] = []

    async def emit(event: LiveEvent) -> None:
        events.append(event)

    session = LiveSession(WordsPerSecond(), emit, max_turn_s=30)
    for offset in range(0, len(speech), 4800):
        await session.append(speech[offset : offset + 4800])
        await asyncio.sleep(0)  # let a partial decoding answer, as the network's pace would
    await session.append(bytes(48000))
    await session.drain()
    await session.close()
    return events


def test_a_turn_s_events_and_its_partial_text(speech: bytes) -> None:
    events = asyncio.run(_spoken_turn(speech))
    kinds = [type(event) for event in events]
    assert kinds[0] is SpeechStarted
    assert kinds.count(SpeechStopped) == kinds.count(Committed) == kinds.count(TurnCompleted)
    completed = [event for event in events if isinstance(event, TurnCompleted)]
    # The paragraph has pauses between sentences; each turn's deltas grow into its text.
    for turn in completed:
        deltas = [e.delta for e in events if isinstance(e, TextDelta) and e.item_id == turn.item_id]
        assert "".join(deltas) == turn.text
    assert any(
        isinstance(later, TextDelta) and kinds.index(SpeechStopped) > index
        for index, later in enumerate(events)
    ), "no delta came while the first turn was spoken"


async def _ordered_and_held_back() -> tuple[list[str], bool]:
    decoder = WordsPerSecond()
    decoder.gates = {turn: asyncio.Event() for turn in range(1, MAX_WAITING_TURNS + 1)}
    texts: list[str] = []

    committed: list[str] = []

    async def emit(event: LiveEvent) -> None:
        if isinstance(event, TurnCompleted):
            texts.append(event.item_id)
        elif isinstance(event, Committed):
            committed.append(event.item_id)

    session = LiveSession(decoder, emit, 30, SessionConfig(vad=None))
    with pytest.raises(EmptyCommit):
        await session.commit()
    for seconds in range(1, MAX_WAITING_TURNS + 1):
        await session.append(bytes(48000 * seconds))
        await session.commit()
    # Every turn so far waits for its decoder: one more commit waits for room.
    await session.append(bytes(48000))
    more = asyncio.ensure_future(session.commit())
    done, _ = await asyncio.wait([more], timeout=0.5)
    held_back = not done
    # The last turns are decoded first, and still end after the first.
    decoder.gates[MAX_WAITING_TURNS].set()
    await more
    assert texts == [] and len(committed) == MAX_WAITING_TURNS + 1
    decoder.gates[1].set()
    await session.drain()
    await session.close()
    return texts, held_back and texts == committed


def test_turns_end_in_commit_order_and_commits_wait_for_room() -> None:
    texts, held_back_in_order = asyncio.run(_ordered_and_held_back())
    assert len(texts) == MAX_WAITING_TURNS + 1
    assert held_back_in_order
