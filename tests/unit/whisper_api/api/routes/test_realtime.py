"""The /v1/realtime endpoint's rules, against the app with a fake decoder: session settings,
manual turns, the session limit and the idle timeout."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from tests.unit.whisper_api.helpers import serving
from whisper_api.settings import Settings

TWO_SECONDS_OF_G711 = base64.b64encode(bytes(16000)).decode()  # a byte a sample at 8 kHz


@pytest.fixture
def live(settings: Settings) -> Iterator[TestClient]:
    limited = dataclasses.replace(settings, live_max_sessions=1, live_idle_timeout_s=1)
    with serving(limited) as client:
        yield client


def manual(socket: WebSocketTestSession, **audio_input: object) -> dict[str, object]:
    update = {"type": "transcription", "audio": {"input": {"turn_detection": None, **audio_input}}}
    socket.send_json({"type": "session.update", "session": update})
    answer: dict[str, object] = socket.receive_json()
    return answer


def test_a_committed_turn_is_decoded_and_telephone_audio_is_taken(live: TestClient) -> None:
    with live.websocket_connect("/v1/realtime?intent=transcription") as socket:
        created = socket.receive_json()
        assert created["session"]["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
        assert created["session"]["audio"]["input"]["turn_detection"]["type"] == "server_vad"
        updated = manual(socket, format={"type": "audio/pcmu"}, transcription={"language": "de"})
        assert updated["type"] == "session.updated"
        # Two seconds of G.711 at 8 kHz, heard by the decoder as two seconds at 16 kHz.
        socket.send_json(
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(16000)).decode()}
        )
        socket.send_json({"type": "input_audio_buffer.commit"})
        kinds = [socket.receive_json() for _ in range(4)]
        assert [event["type"] for event in kinds] == [
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.input_audio_transcription.delta",
            "conversation.item.input_audio_transcription.completed",
        ]
        completed = kinds[-1]
        assert completed["transcript"] == "heard 1.984 s"  # whole 32 ms frames
        assert completed["language"] == "de"


def test_an_unknown_language_is_refused_and_the_session_goes_on(live: TestClient) -> None:
    with live.websocket_connect("/v1/realtime") as socket:
        socket.receive_json()
        error = manual(socket, transcription={"language": "klingon"})
        assert error["type"] == "error"
        assert manual(socket)["type"] == "session.updated"


def test_one_session_too_many_gets_an_error_and_a_close(live: TestClient) -> None:
    with live.websocket_connect("/v1/realtime") as first:
        assert first.receive_json()["type"] == "session.created"
        with live.websocket_connect("/v1/realtime") as second:
            error = second.receive_json()
            assert error["error"]["code"] == "too_many_sessions"
            with pytest.raises(WebSocketDisconnect) as closed:
                second.receive_json()
            assert closed.value.code == 1013


def test_a_silent_session_is_closed_after_the_idle_timeout(live: TestClient) -> None:
    with live.websocket_connect("/v1/realtime") as socket:
        socket.receive_json()
        error = socket.receive_json()  # nothing is sent: the timeout (1 s here) ends it
        assert error["error"]["code"] == "idle_timeout"
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
        assert closed.value.code == 1008
    # The session's place is free again.
    with live.websocket_connect("/v1/realtime") as again:
        assert again.receive_json()["type"] == "session.created"
