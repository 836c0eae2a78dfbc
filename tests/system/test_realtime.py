"""OpenAI's Realtime transcription API end to end: the official `openai` client's realtime
connection against the real server, decoder and model, with espeak-ng speech streamed as 24 kHz
PCM16 at the pace it is spoken."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.live_speech import (
    BYTES_PER_S,
    Heard,
    SpokenSentences,
    realtime_client,
    received,
    spoken_sentences,
    stream_at_pace,
)
from tests.support.server import RunningServer
from tests.support.speech import PARAGRAPHS, concatenated, speak, word_error_rate

pytestmark = pytest.mark.slow

TRANSCRIPTION = "conversation.item.input_audio_transcription"
# Generous: a turn is a few seconds of speech, decoded by tiny.en in well under a second when the
# machine is quiet (docs/benchmarks.md has the measured figures).
TURN_DEADLINE_S = 60.0
# Turns at least this long are still being spoken when a delta first comes.
LONG_TURN_S = 4.0


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> SpokenSentences:
    return spoken_sentences(PARAGRAPHS[0], tmp_path_factory.mktemp("live"))


async def _server_vad_session(url: str, spoken: SpokenSentences) -> tuple[Heard, float]:
    heard = Heard()
    async with realtime_client(url).realtime.connect(extra_query={"intent": "transcription"}) as connection:
        streaming = asyncio.create_task(stream_at_pace(connection, spoken.pcm))
        async for event in received(connection, heard):
            if event["type"] == "error":
                raise AssertionError(f"error event: {event}")
            if len(heard.completed) == len(spoken.sentences):
                break
        began = await streaming
    return heard, began


def test_server_vad_sends_each_sentence_as_a_turn(
    engine_server: RunningServer, spoken: SpokenSentences
) -> None:
    heard, began = asyncio.run(asyncio.wait_for(_server_vad_session(engine_server.url, spoken), 300))
    assert heard.of("session.created")[0]["session"]["type"] == "transcription"
    completed = heard.completed
    assert len(completed) == len(spoken.sentences)
    text = " ".join(event["transcript"] for event in completed)
    assert word_error_rate(" ".join(spoken.sentences), text) <= 0.10, text
    for turn, sentence in zip(completed, spoken.sentences, strict=True):
        assert word_error_rate(sentence, turn["transcript"]) <= 0.34, (sentence, turn["transcript"])
    # Each turn's events come in OpenAI's order, under one item id.
    items = [event["item_id"] for event in heard.of("input_audio_buffer.committed")]
    assert [event["item_id"] for event in completed] == items
    for item in items:
        kinds = [event["type"] for _, event in heard.events if event.get("item_id") == item]
        order = ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"]
        order += ["input_audio_buffer.committed", f"{TRANSCRIPTION}.completed"]
        assert [kind for kind in kinds if kind in order] == order
    # Partial text while a long turn is still being spoken, and joined deltas read as the turn.
    long_turns = 0
    for item, turn in zip(items, completed, strict=True):
        stopped = next(
            at for at, e in heard.times_of("input_audio_buffer.speech_stopped") if e["item_id"] == item
        )
        deltas = [(at, e) for at, e in heard.times_of(f"{TRANSCRIPTION}.delta") if e["item_id"] == item]
        joined = "".join(e["delta"] for _, e in deltas)
        assert word_error_rate(turn["transcript"], joined) <= 0.25, (joined, turn["transcript"])
        if turn["usage"]["seconds"] >= LONG_TURN_S:
            long_turns += 1
            assert deltas and deltas[0][0] < stopped, f"no delta while {turn['transcript']!r} was spoken"
    assert long_turns >= 1
    # Each turn is final soon after its speech ended (the generous bound; bench/ measures it).
    for (at, _), end_s in zip(heard.times_of(f"{TRANSCRIPTION}.completed"), spoken.ends_s, strict=True):
        assert at - (began + end_s) < TURN_DEADLINE_S


async def _manual_session(url: str, pcm: bytes) -> Heard:
    heard = Heard()
    async with realtime_client(url).realtime.connect(extra_query={"intent": "transcription"}) as typed:
        # Bad events on purpose: past the client's types.
        connection: Any = typed
        events = received(connection, heard)

        async def next_of(*kinds: str) -> dict[str, Any]:
            async for event in events:
                if event["type"] in kinds:
                    return event
            raise AssertionError("the session ended")

        await next_of("session.created")
        # Bad events, each answered with an error; the session goes on.
        await connection.send({"type": "no.such.event", "event_id": "bad1"})
        await connection.send(
            {"type": "input_audio_buffer.append", "audio": "not base64!", "event_id": "bad2"}
        )
        bad_format = {"audio": {"input": {"format": {"type": "audio/flac"}}}}
        await connection.send({"type": "session.update", "session": bad_format, "event_id": "bad3"})
        await connection.send_raw("{not json")
        manual = {"type": "transcription", "audio": {"input": {"turn_detection": None}}}
        await connection.send({"type": "session.update", "session": manual})
        await connection.send({"type": "input_audio_buffer.commit", "event_id": "bad4"})
        errors = [await next_of("error") for _ in range(4)]
        assert [error["error"]["event_id"] for error in errors] == ["bad1", "bad2", "bad3", None]
        assert errors[0]["error"]["code"] == "unknown_event"
        assert errors[3]["error"]["code"] == "invalid_json"
        updated = await next_of("session.updated")
        assert updated["session"]["audio"]["input"]["turn_detection"] is None
        empty = await next_of("error")
        assert (empty["error"]["event_id"], empty["error"]["code"]) == (
            "bad4",
            "input_audio_buffer_commit_empty",
        )
        # A whole paragraph, sent at once, then committed by hand.
        step = BYTES_PER_S
        for offset in range(0, len(pcm), step):
            piece = base64.b64encode(pcm[offset : offset + step]).decode()
            await connection.send({"type": "input_audio_buffer.append", "audio": piece})
        await connection.send({"type": "input_audio_buffer.commit"})
        await next_of(f"{TRANSCRIPTION}.completed")
    return heard


def test_manual_commits_and_bad_events(server: RunningServer, tmp_path: Path) -> None:
    from tests.support.live_speech import pcm_of

    pcm = pcm_of(speak(PARAGRAPHS[1], tmp_path / "paragraph.wav"))
    heard = asyncio.run(asyncio.wait_for(_manual_session(server.url, pcm), 300))
    assert heard.of("input_audio_buffer.speech_started") == []
    (committed,) = heard.of("input_audio_buffer.committed")
    (completed,) = heard.completed
    assert completed["item_id"] == committed["item_id"]
    assert word_error_rate(PARAGRAPHS[1], completed["transcript"]) <= 0.10, completed["transcript"]
    assert completed["usage"]["seconds"] == pytest.approx(len(pcm) / BYTES_PER_S, abs=0.05)


def test_a_wrong_intent_gets_an_error_and_a_close(server: RunningServer) -> None:
    from websockets.sync.client import connect

    url = server.url.replace("http", "ws") + "/v1/realtime?intent=conversation"
    with connect(url) as websocket:
        error = json.loads(websocket.recv(timeout=30))
        assert error["type"] == "error" and error["error"]["param"] == "intent"
        with pytest.raises(Exception, match="1008"):
            websocket.recv(timeout=30)


async def _turn_during_file_job(url: str, pcm: bytes) -> tuple[float, float]:
    """Commit one turn; returns (when it was committed, when its text came)."""
    async with realtime_client(url).realtime.connect(extra_query={"intent": "transcription"}) as typed:
        connection: Any = typed  # a plain dict per event, as in the docs
        manual = {"type": "transcription", "audio": {"input": {"turn_detection": None}}}
        await connection.send({"type": "session.update", "session": manual})
        await connection.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})
        await connection.send({"type": "input_audio_buffer.commit"})
        committed_at = time.monotonic()
        async for event in connection:
            if event.type == f"{TRANSCRIPTION}.completed":
                return committed_at, time.monotonic()
            assert event.type != "error", event
    raise AssertionError("the session ended without the turn")


def test_a_turn_is_decoded_while_a_long_file_job_decodes(
    server: RunningServer, speech_dir: Path, tmp_path: Path
) -> None:
    from tests.support.live_speech import pcm_of

    paragraphs = sorted(speech_dir.glob("paragraph*.wav")) * 4
    long_file = concatenated(paragraphs, tmp_path / "long.wav", "-ar", "16000", "-ac", "1")
    with server.client() as client, long_file.open("rb") as upload:
        task_id = client.post("/api/v1/transcribe", files={"file": upload}).json()["task_id"]
        deadline = time.monotonic() + 600
        while client.get("/api/v1/status", params={"task_id": task_id}).json()["status"] != "processing":
            assert time.monotonic() < deadline, "the file job never started"
            time.sleep(0.2)
        pcm = pcm_of(speak(PARAGRAPHS[2], tmp_path / "turn.wav"))
        committed_at, completed_at = asyncio.run(
            asyncio.wait_for(_turn_during_file_job(server.url, pcm), 300)
        )
        status = client.get("/api/v1/status", params={"task_id": task_id}).json()["status"]
        # The file job is not needed any more; the decoder stops it at its next window.
        assert client.delete(f"/api/v1/tasks/{task_id}").status_code == 202
    assert completed_at - committed_at < TURN_DEADLINE_S
    # The turn did not wait for the whole file.
    assert status == "processing"
