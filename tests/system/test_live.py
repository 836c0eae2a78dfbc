"""Watching jobs live on the real server: progress, Server-Sent Events, callbacks, result formats."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from tests.support.server import DECODE_DEADLINE_S, STEP_DEADLINE_S, RunningServer, wait_for_task
from tests.support.speech import PARAGRAPHS, speak, word_error_rate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(engine_server: RunningServer) -> RunningServer:
    """Every test here runs against each engine."""
    return engine_server


def upload(server: RunningServer, path: Path, **fields: str) -> str:
    with server.client() as client, path.open("rb") as audio:
        response = client.post("/api/v1/transcribe", files={"file": (path.name, audio)}, data=fields)
    assert response.status_code == 200, response.text
    return str(response.json()["task_id"])


def test_progress_rises_while_a_long_task_decodes(server: RunningServer, tmp_path: Path) -> None:
    task_id = upload(server, speak(" ".join(PARAGRAPHS * 2), tmp_path / "long.wav"))
    seen: list[float] = []
    etas: list[float] = []
    with server.client() as client:
        deadline = time.monotonic() + DECODE_DEADLINE_S
        while True:
            status = client.get("/api/v1/status", params={"task_id": task_id}).json()
            if status["status"] == "processing":
                seen.append(status["progress"])
                if status["eta_s"] is not None:
                    etas.append(status["eta_s"])
            if status["status"] in ("finished", "failed"):
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert status["status"] == "finished" and status["progress"] == 1.0
    assert seen == sorted(seen), seen
    assert len({value for value in seen if 0 < value < 1}) >= 2, seen
    assert etas and min(etas) >= 0


def test_events_stream_until_the_task_ends(server: RunningServer, speech_dir: Path) -> None:
    task_id = upload(server, speech_dir / "paragraph3.wav")
    events: list[tuple[str, dict[str, Any]]] = []
    with (
        httpx.Client(base_url=server.url, timeout=60) as client,
        client.stream("GET", f"/api/v1/tasks/{task_id}/events") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    statuses = [data["status"] for name, data in events if name == "status"]
    assert statuses[-1] == "finished"
    assert "processing" in statuses or statuses[0] == "finished"
    assert word_error_rate(PARAGRAPHS[3], events[-1][1]["transcript"]) <= 0.10
    progress = [data["progress"] for name, data in events if name == "progress"]
    assert progress == sorted(progress)


class Receiver(BaseHTTPRequestHandler):
    """Answers 500 to the first `failures` callbacks, then 204; records what it got."""

    failures = 2
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Receiver.received.append(body)
        self.send_response(500 if len(Receiver.received) <= Receiver.failures else 204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook?token=secret"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_callback_is_retried_until_delivered(server: RunningServer, speech_dir: Path, receiver: str) -> None:
    task_id = upload(server, speech_dir / "paragraph0.wav", callback_url=receiver)
    deadline = time.monotonic() + STEP_DEADLINE_S
    while len(Receiver.received) < 3:
        assert time.monotonic() < deadline, Receiver.received
        time.sleep(0.1)
    delivered = Receiver.received[-1]
    assert delivered["task_id"] == task_id and delivered["status"] == "finished"
    assert word_error_rate(PARAGRAPHS[0], delivered["transcript"]) <= 0.10
    assert "token=secret" not in server.log_file.read_text()


def test_a_bad_callback_url_is_refused(server: RunningServer, speech_dir: Path) -> None:
    with server.client() as client, (speech_dir / "paragraph0.wav").open("rb") as audio:
        response = client.post(
            "/api/v1/transcribe", files={"file": audio}, data={"callback_url": "ftp://x/y"}
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "callback_rejected"


def test_result_in_every_format(server: RunningServer, speech_dir: Path) -> None:
    task_id = upload(server, speech_dir / "paragraph2.wav", word_timestamps="true")
    with server.client() as client:
        wait_for_task(client, task_id)
        result = {fmt: client.get(f"/api/v1/tasks/{task_id}/result", params={"format": fmt}) for fmt in
                  ("json", "txt", "srt", "vtt", "tsv")}  # fmt: skip
        narrow = client.get(
            f"/api/v1/tasks/{task_id}/result",
            params={"format": "vtt", "max_line_width": 20, "max_line_count": 1},
        )
        unknown = client.get(f"/api/v1/tasks/{task_id}/result", params={"format": "docx"})
    document = result["json"].json()
    assert word_error_rate(PARAGRAPHS[2], document["text"]) <= 0.10
    assert document["words"] and document["segments"][0]["start"] == 0.0
    assert word_error_rate(PARAGRAPHS[2], result["txt"].text) <= 0.10
    assert result["srt"].text.startswith("1\n00:00:00,000 --> ")
    assert result["vtt"].text.startswith("WEBVTT\n\n00:00:00.000 --> ")
    assert result["tsv"].text.splitlines()[0] == "start\tend\ttext"
    cue_lines = [line for line in narrow.text.splitlines()[2:] if line and "-->" not in line]
    assert cue_lines and all(len(line) <= 20 or " " not in line for line in cue_lines)
    assert unknown.status_code == 400 and "docx" in unknown.json()["detail"]
