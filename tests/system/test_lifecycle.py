"""The model's life cycle and the processes' shutdown, with the real server and decoder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import STEP_DEADLINE_S, RunningServer, start_server, wait_for_task

pytestmark = pytest.mark.slow


def wait_until_unloaded(client: httpx.Client, deadline_s: float = STEP_DEADLINE_S) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get("/api/v1/decoder_status").json()
        if status["is_model_loaded"] is False:
            return status
        time.sleep(0.1)
    raise AssertionError("the model was not unloaded")


def test_lazy_load_instant_unload_and_clean_shutdown(
    tmp_path: Path, model_dir: Path, speech_dir: Path, engine_name: str
) -> None:
    server = start_server(
        tmp_path, model_dir, LOAD_MODEL_ON_STARTUP="0", UNLOAD_MODEL_AFTER_S="0", ENGINE=engine_name
    )
    try:
        with server.client() as client:
            status = client.get("/api/v1/decoder_status_refresh").json()
            assert status["is_model_loaded"] is False
            assert status["last_loaded_model_size"] is None
            decoder_pid = status["pid"]
            with (speech_dir / "paragraph3.wav").open("rb") as audio:
                task = client.post("/api/v1/transcribe", files={"file": audio}).json()
            assert wait_for_task(client, task["task_id"])["status"] == "finished"
            # UNLOAD_MODEL_AFTER_S=0: unloaded as soon as the queue is empty.
            unloaded = wait_until_unloaded(client)
            assert unloaded["last_loaded_model_size"] == "tiny.en"
            assert unloaded["currently_busy"] is False
    finally:
        exit_code = server.stop()
    assert exit_code == 0
    assert not Path(f"/proc/{decoder_pid}").exists()
    log_text = server.log_file.read_text()
    assert "unloading model tiny.en" in log_text
    assert "decoder shutting down" in log_text
    # An ended job keeps no upload.
    assert list((server.data_dir / "uploads").iterdir()) == []


def test_front_end_process_never_loads_torch(server: RunningServer) -> None:
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    assert "libtorch" not in maps
    script = (
        "import sys, whisper_api.cli.main, whisper_api.app, whisper_api.api.routes; "
        "print(sorted(m for m in ('torch', 'whisper', 'numpy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=dict(os.environ)
    )
    assert result.stdout.strip() == "[]"


def test_only_the_openai_whisper_decoder_loads_torch(engine_server: RunningServer) -> None:
    """A faster-whisper decoder on a CPU host has no use for torch's few hundred MiB."""
    with engine_server.client() as client:
        decoder = client.get("/api/v1/decoder_status").json()
    maps = Path(f"/proc/{decoder['pid']}/maps").read_text()
    assert ("libtorch" in maps) == (decoder["engine"] == "openai-whisper")


def test_systemd_hears_ready_once_the_model_is_loaded(
    tmp_path: Path, model_dir: Path, speech_dir: Path
) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(tmp_path / "notify"))
        systemd.settimeout(60)
        server = start_server(tmp_path / "server", model_dir, NOTIFY_SOCKET=str(tmp_path / "notify"))
        try:
            assert systemd.recv(64) == b"READY=1"
            with server.client() as client:
                assert client.get("/readyz").json() == {"ready": True}
                assert client.get("/api/v1/decoder_status").json()["is_model_loaded"] is True
                with (speech_dir / "paragraph0.wav").open("rb") as audio:
                    task = client.post("/api/v1/transcribe", files={"file": audio}).json()
                wait_for_task(client, task["task_id"])
                metrics = client.get("/metrics").text
        finally:
            server.stop()
        assert systemd.recv(64) == b"STOPPING=1"
    # Loaded once at start-up, and used as it is for the task.
    assert 'whisper_api_model_loads_total{device="cpu",model="tiny.en"} 1.0' in metrics
    assert 'whisper_api_tasks_ended_total{status="finished"} 1.0' in metrics
