"""An attacker against the live surfaces, on real sockets: the real server, decoder and tiny.en,
with `/v1/realtime` and WYOMING_PORT, and each way a client could hold a slot, grow the server,
stall HTTP or fill the log shown to fail.

The Realtime client that never reads writes its WebSocket frames by hand on a raw socket with a
small receive buffer: a library client reads in the background and would not stop.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin
from wyoming.asr import Transcript
from wyoming.audio import AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event

from tests.support.ports import free_port
from tests.support.server import STEP_DEADLINE_S, RunningServer, start_server
from tests.system.test_hostile_input import front_end_rss
from whisper_api.api.realtime import max_event_bytes
from whisper_api.live.client_warnings import BURST
from whisper_api.live.sessions import SEND_TIMEOUT_S

pytestmark = pytest.mark.slow

MAX_SESSIONS = 2
IDLE_S = 3
MAX_TURN_S = 30
# What HTTP may be held up by at most, while the live surfaces are under attack.
HEALTHZ_BOUND_S = 1.0
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path
) -> Iterator[tuple[RunningServer, int]]:
    port = free_port()
    running = start_server(
        tmp_path_factory.mktemp("live-limits"),
        model_dir,
        ENGINE="faster-whisper",
        CPU_THREADS="1",
        WYOMING_PORT=str(port),
        LIVE_MAX_SESSIONS=str(MAX_SESSIONS),
        LIVE_IDLE_TIMEOUT_S=str(IDLE_S),
    )
    yield running, port
    running.stop()


def ws_url(server: RunningServer) -> str:
    return server.url.replace("http", "ws") + "/v1/realtime?intent=transcription"


def created(websocket: ClientConnection) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(websocket.recv(timeout=30))
    return event


def a_session_opens(server: RunningServer) -> bool:
    """Whether a new Realtime session gets a slot now."""
    with connect(ws_url(server)) as websocket:
        return bool(created(websocket)["type"] == "session.created")


def wait_until(check: Any, what: str, deadline_s: float = STEP_DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {deadline_s} s"
        time.sleep(0.2)


# --- Realtime ---------------------------------------------------------------------------------


def raw_websocket(server: RunningServer, **headers: str) -> socket.socket:
    """A WebSocket opened by hand, reading as little as the kernel allows."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    sock.sendall(
        (
            f"GET /v1/realtime?intent=transcription HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        ).encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


def one_byte_frame() -> bytes:
    """A masked binary frame of one byte, as a client must send it."""
    mask = os.urandom(4)
    return bytes([0x82, 0x80 | 1]) + mask + bytes([0x41 ^ mask[0]])


def flood_without_reading(sock: socket.socket, limit_s: float = 60) -> None:
    """One-byte frames, never reading the answers, until the sends block (or are refused)."""
    sock.settimeout(1.0)
    frames = one_byte_frame() * 256
    deadline = time.monotonic() + limit_s
    try:
        while time.monotonic() < deadline:
            sock.sendall(frames)
    except (TimeoutError, OSError):
        return
    raise AssertionError(f"the server read {limit_s} s of frames it answered while nobody read")


def reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_clients_that_do_not_read_and_reset_lose_their_slots(live_server: tuple[RunningServer, int]) -> None:
    server, _ = live_server
    attackers = [raw_websocket(server) for _ in range(MAX_SESSIONS)]
    threads = [threading.Thread(target=flood_without_reading, args=(sock,)) for sock in attackers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with connect(ws_url(server)) as websocket:
        refused = created(websocket)
    assert refused["type"] == "error" and refused["error"]["code"] == "too_many_sessions"
    for sock in attackers:
        reset(sock)
    # Their sends time out after SEND_TIMEOUT_S, and their slots come back.
    wait_until(lambda: a_session_opens(server), "a free slot", SEND_TIMEOUT_S * 6)


def test_a_page_of_another_origin_is_refused_and_the_server_s_own_is_not(
    live_server: tuple[RunningServer, int],
) -> None:
    server, _ = live_server
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(server), origin=Origin("http://evil.example"))
    assert refused.value.response.status_code == 403
    assert b"origin_not_allowed" in refused.value.response.body
    with connect(ws_url(server), origin=Origin(server.url)) as websocket:
        assert created(websocket)["type"] == "session.created"


def test_bounded_events_get_errors_and_the_session_goes_on(live_server: tuple[RunningServer, int]) -> None:
    server, _ = live_server
    over_a_turn = base64.b64encode(bytes(48000 * MAX_TURN_S + 2)).decode()
    with connect(ws_url(server), max_size=None) as websocket:
        created(websocket)
        asked = [
            ("deep", "[" * 100_000),
            ("long", json.dumps({"type": "input_audio_buffer.append", "audio": over_a_turn})),
            (
                "prompt",
                json.dumps(
                    {
                        "type": "session.update",
                        "session": {
                            "type": "transcription",
                            "audio": {"input": {"transcription": {"prompt": "p" * 5000}}},
                        },
                    }
                ),
            ),
        ]
        codes = {}
        for name, text in asked:
            websocket.send(text)
            codes[name] = json.loads(websocket.recv(timeout=30))["error"]
        assert codes["deep"]["code"] == "invalid_json"
        assert codes["long"]["code"] == "audio_too_large"
        assert codes["prompt"]["param"] == "session.audio.input.transcription.prompt"
        # The session still takes what is right.
        websocket.send(
            json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(4800)).decode()})
        )
        websocket.send(json.dumps({"type": "input_audio_buffer.clear"}))
        assert json.loads(websocket.recv(timeout=30))["type"] == "input_audio_buffer.cleared"


def test_a_message_over_the_bound_is_closed_before_it_is_read(live_server: tuple[RunningServer, int]) -> None:
    server, _ = live_server
    limit = max_event_bytes(MAX_TURN_S)
    with connect(ws_url(server), max_size=None) as websocket:
        created(websocket)
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            websocket.send("x" * (limit + MIB))
            websocket.recv(timeout=STEP_DEADLINE_S)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert time.monotonic() - started < STEP_DEADLINE_S


def healthz_times(server: RunningServer, stop: threading.Event, answered: threading.Event) -> list[float]:
    """How long each /healthz takes, asked every 50 ms until `stop`; `answered` is set once the
    first has come back."""
    times = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        while not stop.is_set():
            started = time.monotonic()
            assert client.get("/healthz").status_code == 200
            times.append(time.monotonic() - started)
            answered.set()
            time.sleep(0.05)
    return times


def test_large_appends_stall_neither_http_nor_memory(live_server: tuple[RunningServer, int]) -> None:
    """The finding: four sessions each sending two appends just under 16 MiB. Now an append holds
    at most a turn's audio, and it is heard off the event loop."""
    server, _ = live_server
    turn = json.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(48000 * MAX_TURN_S)).decode()}
    )
    a_session_opens(server)  # numpy and onnxruntime are loaded with the first live audio
    with connect(ws_url(server)) as warm:
        created(warm)
        warm.send(turn)
        warm.send(json.dumps({"type": "input_audio_buffer.clear"}))
        assert json.loads(warm.recv(timeout=60))["type"] == "input_audio_buffer.cleared"
    baseline = front_end_rss(server)

    def session(rounds: int) -> None:
        with connect(ws_url(server), max_size=None) as websocket:
            created(websocket)
            for _ in range(rounds):
                websocket.send(turn)
            websocket.send(json.dumps({"type": "input_audio_buffer.clear"}))
            while json.loads(websocket.recv(timeout=STEP_DEADLINE_S))["type"] != "input_audio_buffer.cleared":
                pass

    stop, answered = threading.Event(), threading.Event()
    measured: list[list[float]] = []
    watcher = threading.Thread(target=lambda: measured.append(healthz_times(server, stop, answered)))
    watcher.start()
    try:
        # The load starts once the server is being asked, and the asking ends after the load: an
        # answer held up by it would take longer than the bound, however short the load was.
        assert answered.wait(STEP_DEADLINE_S)
        sessions = [threading.Thread(target=session, args=(4,)) for _ in range(MAX_SESSIONS)]
        for thread in sessions:
            thread.start()
        for thread in sessions:
            thread.join()
    finally:
        stop.set()
        watcher.join()
    assert measured and len(measured[0]) >= 2
    assert max(measured[0]) < HEALTHZ_BOUND_S, sorted(measured[0])[-5:]
    grown_mb = (front_end_rss(server) - baseline) / MIB
    assert grown_mb < 100, grown_mb


# --- Wyoming ----------------------------------------------------------------------------------


def wyoming_socket(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return sock


def header(kind: str, **fields: Any) -> bytes:
    return json.dumps({"type": kind, **fields}).encode() + b"\n"


def read_events(
    sock: socket.socket, deadline_s: float = 60, quiet_s: float = 1.0
) -> tuple[list[dict[str, Any]], bool]:
    """The events the server sends until it closes the connection or falls quiet for `quiet_s`:
    (events with their data merged, whether it closed)."""
    sock.settimeout(quiet_s)
    buffer = b""
    deadline = time.monotonic() + deadline_s
    closed = False
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buffer += chunk
    events = []
    while buffer:
        line, _, buffer = buffer.partition(b"\n")
        event = json.loads(line)
        length = event.get("data_length") or 0
        event["data"] = {**event.get("data", {}), **(json.loads(buffer[:length]) if length else {})}
        buffer = buffer[length + (event.get("payload_length") or 0) :]
        events.append(event)
    return events, closed


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        (header("audio-start", data={"rate": 16000, "width": 2, "channels": 1}, data_length="abc"), False),
        (b"[1, 2, 3]\n", True),
        (json.dumps({"data": {}}).encode() + b"\n", True),
        (header("audio-start", data={"rate": 0, "width": 2, "channels": 1}), True),
        (header("audio-start", data={"width": 2, "channels": 1}), True),
        (header("audio-start", data={"rate": 1, "width": 2, "channels": 1}), True),
        (header("transcribe", data={"language": 5}), True),
        (header("audio-chunk", payload_length=4 * 1024**3), False),
        (header("audio-chunk", payload_length=64 * MIB), False),
        (header("describe", data_length=10**6), False),
        (b"{" + b" " * 100_000, False),
    ],
)
def test_a_malformed_wyoming_message_gets_an_error_event_not_a_traceback(
    live_server: tuple[RunningServer, int], sent: bytes, kept: bool
) -> None:
    server, port = live_server
    before = front_end_rss(server)
    with wyoming_socket(port) as sock:
        sock.sendall(sent)
        errors, closed = read_events(sock, deadline_s=10)
        assert [event["type"] for event in errors] == ["error"], errors
        if kept:
            assert not closed
            sock.sendall(header("describe"))
            info, _ = read_events(sock)
            assert [event["type"] for event in info] == ["info"]
        else:
            assert closed
    assert (front_end_rss(server) - before) / MIB < 50
    assert "Traceback" not in server.log_file.read_text()


def test_wyoming_warnings_from_one_client_are_held_back(live_server: tuple[RunningServer, int]) -> None:
    server, port = live_server
    before = len(server.log_file.read_text().splitlines())
    with wyoming_socket(port) as sock:
        sock.sendall(b"not json\n" * 200)
        events, closed = read_events(sock)
    assert len(events) == 200 and not closed
    log = server.log_file.read_text().splitlines()
    # A window of the client's warnings may have begun before; at most two meet this test.
    assert len(log) - before <= 2 * (BURST + 1), log[before:]
    assert any("further warnings about client 127.0.0.1 are held back" in line for line in log)


def test_silent_wyoming_connections_are_closed_after_the_idle_timeout(
    live_server: tuple[RunningServer, int],
) -> None:
    _, port = live_server
    start = header("audio-start", data={"rate": 16000, "width": 2, "channels": 1})
    silent = [wyoming_socket(port) for _ in range(MAX_SESSIONS)]
    for sock in silent:
        sock.sendall(start)
    for sock in silent:
        events, closed = read_events(sock, deadline_s=IDLE_S * 20, quiet_s=IDLE_S * 20)
        assert closed and events[-1]["data"]["code"] == "idle_timeout", events
        sock.close()
    # Their slots are free: an utterance is transcribed.
    assert asyncio.run(_empty_utterance(port)).text == ""


async def _empty_utterance(port: int) -> Transcript:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        await client.write_event(AudioStop().event())
        event = await asyncio.wait_for(client.read_event(), STEP_DEADLINE_S)
    assert event is not None and Transcript.is_type(event.type), event
    return Transcript.from_event(event)


def test_wyoming_connections_are_capped(live_server: tuple[RunningServer, int]) -> None:
    server, port = live_server
    cap = max(4, 2 * MAX_SESSIONS)
    # Held open, silent for less than the idle timeout.
    held = [wyoming_socket(port) for _ in range(cap)]
    try:
        with wyoming_socket(port) as extra:
            events, closed = read_events(extra)
        assert closed and events[0]["data"]["code"] == "too_many_connections"
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/healthz").status_code == 200
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: asyncio.run(_describes(port)), "a connection after the others closed", 30)


async def _describes(port: int) -> bool:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Event("describe"))
        event = await asyncio.wait_for(client.read_event(), 30)
    return event is not None and not Error.is_type(event.type)


def test_a_wyoming_client_that_does_not_read_is_dropped(live_server: tuple[RunningServer, int]) -> None:
    _, port = live_server
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(1.0)
    describes = header("describe") * 256
    dropped = False
    deadline = time.monotonic() + SEND_TIMEOUT_S * 6
    while time.monotonic() < deadline and not dropped:
        try:
            sock.sendall(describes)
        except TimeoutError:
            continue
        except OSError:
            dropped = True
    reset(sock)
    assert dropped, "a client that reads nothing was kept"
