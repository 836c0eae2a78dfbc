"""Property test of the live surfaces against the real server: whatever Wyoming header or Realtime
event a client sends, the answer is an event of the protocol (an `error` where it is wrong),
the connection or session goes on wherever the message could be read, and the log gets no
traceback."""

from __future__ import annotations

import base64
import json
import socket
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from tests.support.server import RunningServer
from tests.system.test_live_limits import IDLE_S, live_server

pytestmark = pytest.mark.slow

# The server of the attack tests, with their short idle timeout.
__all__ = ["live_server"]
# Bytes sent after a header that claims them, at most; a longer claim is sent without them.
SENT_BYTES = 2000
# What follows each message: where the message ends without a line break (its data or payload,
# or an unreadable line), the first describe ends that line, and the second is read as itself,
# so a connection that goes on answers `info` at once instead of idling out.
DESCRIBE_TWICE = b'{"type": "describe"}\n' * 2

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
wyoming_types = st.sampled_from(
    ["describe", "transcribe", "audio-start", "audio-chunk", "audio-stop", "info", "x"]
) | st.text(max_size=12)
lengths = st.none() | st.integers(0, SENT_BYTES) | st.integers(-5, 2**40) | st.text(max_size=5)
audio_fields = st.fixed_dictionaries(
    {},
    optional={
        "rate": st.sampled_from([16000, 0, 1, 8000, 48000, 96000, -1]) | json_values,
        "width": st.sampled_from([2, 1, 4, 0]) | json_values,
        "channels": st.sampled_from([1, 2, 0]) | json_values,
        "language": st.sampled_from(["en", "en-US", "xx"]) | json_values,
    },
)


@st.composite
def wyoming_messages(draw: st.DrawFn) -> bytes:
    header: dict[str, Any] = {"type": draw(wyoming_types)}
    if draw(st.booleans()):
        header["data"] = draw(audio_fields | json_values)
    data = b""
    data_length = draw(lengths)
    if data_length is not None:
        header["data_length"] = data_length
        if isinstance(data_length, int) and 0 <= data_length <= SENT_BYTES:
            data = (json.dumps(draw(audio_fields)).encode() + b" " * SENT_BYTES)[:data_length]
    payload_length = draw(lengths)
    payload = b""
    if payload_length is not None:
        header["payload_length"] = payload_length
        if isinstance(payload_length, int) and 0 <= payload_length <= SENT_BYTES:
            payload = draw(st.binary(min_size=payload_length, max_size=payload_length))
    line = draw(
        st.sampled_from([json.dumps(header).encode(), draw(st.binary(max_size=60)).replace(b"\n", b"")])
    )
    return line + b"\n" + data + payload


def answers_until_info(sock: socket.socket) -> tuple[list[str], bool]:
    """The event types the server sends until an `info` (the answer to a describe sent after
    the message) or its close: (types, whether it closed)."""
    sock.settimeout(IDLE_S * 10)
    buffer, types = b"", []
    while True:
        while b"\n" in buffer:
            line, _, rest = buffer.partition(b"\n")
            event = json.loads(line)
            skip = (event.get("data_length") or 0) + (event.get("payload_length") or 0)
            if len(rest) < skip:
                break
            buffer = rest[skip:]
            types.append(event["type"])
            if event["type"] == "info":
                return types, False
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return types, True
        if not chunk:
            return types, True
        buffer += chunk


def test_no_wyoming_message_gets_a_traceback(live_server: tuple[RunningServer, int]) -> None:
    server, port = live_server

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(wyoming_messages())
    def check(message: bytes) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(message + DESCRIBE_TWICE)
            types, closed = answers_until_info(sock)
        assert set(types) <= {"error", "transcript", "info"}, (message, types)
        assert closed or types[-1] == "info"
        # A connection is closed only with an error event saying why.
        assert not closed or "error" in types, message

    check()
    assert "Traceback" not in server.log_file.read_text()


realtime_types = st.sampled_from(
    [
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "response.create",
    ]
) | st.text(max_size=12)
session_fields = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["transcription", "realtime"]) | json_values,
        "audio": st.fixed_dictionaries(
            {},
            optional={
                "input": st.fixed_dictionaries(
                    {},
                    optional={
                        "format": st.fixed_dictionaries(
                            {},
                            optional={
                                "type": st.sampled_from(["audio/pcm", "audio/pcmu", "x"]),
                                "rate": json_values,
                            },
                        )
                        | json_values,
                        "transcription": st.fixed_dictionaries(
                            {},
                            optional={"language": json_values, "prompt": json_values, "model": json_values},
                        )
                        | json_values,
                        "turn_detection": st.fixed_dictionaries(
                            {},
                            optional={
                                "type": st.sampled_from(["server_vad", "semantic_vad"]) | json_values,
                                "threshold": json_values,
                                "silence_duration_ms": json_values,
                                "eagerness": json_values,
                            },
                        )
                        | json_values,
                    },
                )
                | json_values
            },
        )
        | json_values,
    },
)


@st.composite
def realtime_events(draw: st.DrawFn) -> str:
    event: dict[str, Any] = {"type": draw(realtime_types)}
    if draw(st.booleans()):
        event["event_id"] = draw(json_values)
    if draw(st.booleans()):
        event["session"] = draw(session_fields | json_values)
    if draw(st.booleans()):
        event["audio"] = draw(
            st.binary(max_size=3000).map(lambda raw: base64.b64encode(raw).decode()) | json_values
        )
    return draw(st.sampled_from([json.dumps(event), draw(st.text(max_size=40))]))


def test_no_realtime_event_ends_the_session_or_gets_a_traceback(
    live_server: tuple[RunningServer, int],
) -> None:
    server, _ = live_server
    url = server.url.replace("http", "ws") + "/v1/realtime?intent=transcription"
    with connect(url) as websocket:
        assert json.loads(websocket.recv(timeout=30))["type"] == "session.created"

        @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(realtime_events())
        def check(text: str) -> None:
            websocket.send(text)
            # A clear after each event: its `cleared` comes once the event has been handled.
            websocket.send(json.dumps({"type": "input_audio_buffer.clear"}))
            while True:
                event = json.loads(websocket.recv(timeout=120))
                if event["type"] == "input_audio_buffer.cleared":
                    return
                assert event["type"] == "error" or event["type"].startswith(
                    ("session.", "input_audio_buffer.", "conversation.item.")
                ), event
                if event["type"] == "error":
                    assert event["error"]["code"] and event["error"]["message"]

        check()
    assert "Traceback" not in server.log_file.read_text()
