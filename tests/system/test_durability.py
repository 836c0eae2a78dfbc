"""Nothing accepted is lost: restarts, killed servers and crashing decoders, on real processes."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fault_decoder import CRASH_MARKER
from tests.support.server import STEP_DEADLINE_S, RunningServer, start_server, wait_for_task
from tests.support.speech import PARAGRAPHS, speak, word_error_rate

pytestmark = pytest.mark.slow


def upload(client: httpx.Client, path: Path, fields: dict[str, str] | None = None) -> str:
    with path.open("rb") as audio:
        response = client.post("/api/v1/transcribe", files={"file": (path.name, audio)}, data=fields)
    assert response.status_code == 200, response.text
    return str(response.json()["task_id"])


def wait_for_status(
    client: httpx.Client, task_id: str, wanted: str, deadline_s: float = STEP_DEADLINE_S
) -> None:
    deadline = time.monotonic() + deadline_s
    while client.get("/api/v1/status", params={"task_id": task_id}).json()["status"] != wanted:
        assert time.monotonic() < deadline, f"task never became {wanted}"
        time.sleep(0.05)


def wait_for_any_processing(
    client: httpx.Client, task_ids: list[str], deadline_s: float = STEP_DEADLINE_S
) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        statuses = [
            client.get("/api/v1/status", params={"task_id": task}).json()["status"] for task in task_ids
        ]
        if "processing" in statuses:
            return
        assert "pending" in statuses, f"every task ended before one was seen decoding: {statuses}"
        assert time.monotonic() < deadline, "no task became processing"
        time.sleep(0.05)


def decoder_status(client: httpx.Client) -> dict[str, Any]:
    return client.get("/api/v1/decoder_status").json()  # type: ignore[no-any-return]


def wait_for_restart(
    client: httpx.Client, restarts: int, deadline_s: float = STEP_DEADLINE_S
) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_s
    while True:
        status = decoder_status(client)
        if status["restarts"] >= restarts and not status["restarting"] and status["pid"]:
            return status
        assert time.monotonic() < deadline, f"decoder did not restart: {status}"
        time.sleep(0.1)


def test_killing_the_whole_server_loses_nothing(
    tmp_path: Path, model_dir: Path, speech_dir: Path, engine_name: str
) -> None:
    home = tmp_path / "server"
    server = start_server(home, model_dir, ENGINE=engine_name)
    with server.client() as client:
        task_ids = [upload(client, speech_dir / f"paragraph{i}.wav") for i in range(len(PARAGRAPHS))]
        # faster-whisper may finish the first paragraph while the others upload: any one in hand.
        wait_for_any_processing(client, task_ids)
    server.kill_all()

    restarted = start_server(home, model_dir, ENGINE=engine_name)
    try:
        with restarted.client() as client:
            results = [wait_for_task(client, task_id) for task_id in task_ids]
    finally:
        assert restarted.stop() == 0
    for text, result in zip(PARAGRAPHS, results, strict=True):
        assert result["status"] == "finished", result
        assert word_error_rate(text, result["transcript"]) <= 0.10
    # Every upload was decoded and then deleted; nothing is left behind.
    assert list((home / "data" / "uploads").iterdir()) == []


def test_graceful_shutdown_keeps_the_queue(
    tmp_path: Path, model_dir: Path, speech_dir: Path, engine_name: str
) -> None:
    home = tmp_path / "server"
    server = start_server(home, model_dir, SHUTDOWN_GRACE_S="120", ENGINE=engine_name)
    long_audio = speak(" ".join(PARAGRAPHS), tmp_path / "long.wav")
    with server.client() as client:
        first = upload(client, long_audio)
        second = upload(client, speech_dir / "paragraph1.wav")
        wait_for_status(client, first, "processing")
    # To every process of the group, as Ctrl-C in a terminal or systemd's default KillMode do:
    # the decoder must still finish its task within the grace period.
    os.killpg(server.process.pid, signal.SIGINT)
    assert server.process.wait(timeout=120) == 0

    restarted = start_server(home, model_dir, ENGINE=engine_name)
    try:
        with restarted.client() as client:
            finished_in_grace = client.get("/api/v1/status", params={"task_id": first}).json()
            assert finished_in_grace["status"] == "finished"
            assert wait_for_task(client, second)["status"] == "finished"
    finally:
        restarted.stop()
    log_text = restarted.log_file.read_text()
    assert "queueing 1 unfinished tasks again" in log_text


def test_a_killed_decoder_is_restarted_and_its_task_retried(
    engine_server: RunningServer, tmp_path: Path
) -> None:
    server = engine_server
    long_audio = speak(" ".join(PARAGRAPHS), tmp_path / "long.wav")
    with server.client() as client:
        before = decoder_status(client)
        task_id = upload(client, long_audio)
        wait_for_status(client, task_id, "processing")
        os.kill(before["pid"], signal.SIGKILL)
        after = wait_for_restart(client, before["restarts"] + 1)
        result = wait_for_task(client, task_id)
    assert after["pid"] != before["pid"]
    assert result["status"] == "finished"
    assert word_error_rate(" ".join(PARAGRAPHS), result["transcript"]) <= 0.10


def test_a_file_that_always_crashes_the_decoder_fails_alone(
    tmp_path: Path, model_dir: Path, speech_dir: Path
) -> None:
    poison = tmp_path / "poison.wav"
    poison.write_bytes((speech_dir / "paragraph0.wav").read_bytes() + CRASH_MARKER)
    server = start_server(tmp_path / "server", model_dir, module="tests.support.fault_decoder")
    try:
        with server.client() as client:
            good_before = upload(client, speech_dir / "paragraph1.wav")
            poisoned = upload(client, poison)
            good_after = upload(client, speech_dir / "paragraph2.wav")
            failed = wait_for_task(client, poisoned)
            results = [wait_for_task(client, task_id) for task_id in (good_before, good_after)]
            status = decoder_status(client)
    finally:
        server.stop()
    assert failed["status"] == "failed"
    assert failed["error"] == "the decoder crashed twice on this file"
    assert [result["status"] for result in results] == ["finished", "finished"]
    assert word_error_rate(PARAGRAPHS[2], results[1]["transcript"]) <= 0.10
    assert status["restarts"] == 2
    assert "died (exit code -9)" in server.log_file.read_text()


def test_orphaned_uploads_are_removed_at_start(tmp_path: Path, model_dir: Path) -> None:
    uploads = tmp_path / "server" / "data" / "uploads"
    uploads.mkdir(parents=True)
    (uploads / f"{'a' * 32}.part").write_bytes(b"cut off by a crash")
    (uploads / f"{'b' * 32}.wav").write_bytes(b"RIFF")
    server = start_server(tmp_path / "server", model_dir)
    server.stop()
    assert list(uploads.iterdir()) == []


def test_the_upload_limit_holds_on_the_real_server(tmp_path: Path, model_dir: Path) -> None:
    server = start_server(tmp_path / "server", model_dir, MAX_UPLOAD_MB="1", LOAD_MODEL_ON_STARTUP="0")
    host, port = server.url.removeprefix("http://").split(":")
    # Headers announcing 50 MB and the first bytes only: the answer must come before the rest,
    # which a client that insists on sending everything first would never see.
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("POST", "/api/v1/transcribe")
        connection.putheader("Content-Type", "multipart/form-data; boundary=xyz")
        connection.putheader("Content-Length", str(50 * 1024 * 1024))
        connection.endheaders(
            b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        )
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    try:
        with server.client() as client:
            assert client.get("/api/v1/version").status_code == 200
    finally:
        server.stop()
    assert response.status == 413
    assert "1 MB (MAX_UPLOAD_MB)" in body["detail"]
    assert list((server.data_dir / "uploads").iterdir()) == []
