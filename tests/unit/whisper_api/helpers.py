"""Helpers for route tests: the app served with a fake decoder process, and small clients."""

from __future__ import annotations

import contextlib
import math
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from tests.support.fake_decoder import run_fake_decoder
from whisper_api.app import create_app
from whisper_api.logs import LogPipeline
from whisper_api.settings import Settings


def tone(path: Path, seconds: float = 0.5) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        samples = (int(8000 * math.sin(2 * math.pi * 440 * n / 16000)) for n in range(int(16000 * seconds)))
        out.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
    return path


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[TestClient]:
    """The app, its lifespan and a fake decoder process, with logging as the server sets it up."""
    pipeline = LogPipeline(settings)
    pipeline.start()
    try:
        # From loopback, where proxy headers are trusted by default, as behind a local proxy.
        app = create_app(settings, pipeline.queue, run_fake_decoder)
        with TestClient(app, client=("127.0.0.1", 50000)) as test_client:
            yield test_client
    finally:
        pipeline.stop()


def submit(client: TestClient, audio: Path, endpoint: str = "transcribe", **params: str) -> dict[str, Any]:
    with audio.open("rb") as file:
        response = client.post(f"/api/v1/{endpoint}", files={"file": (audio.name, file)}, params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_until(check: Callable[[], bool], deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def status_of(client: TestClient, task_id: str) -> dict[str, Any]:
    return client.get("/api/v1/status", params={"task_id": task_id}).json()  # type: ignore[no-any-return]


def finish(client: TestClient, task_id: str) -> dict[str, Any]:
    """Have the fake decoder finish the task in hand until this one is done (it decodes one task
    at a time, as a real one is handed them), and return the task's status."""

    def done() -> bool:
        client.get("/api/v1/decoder_status_refresh")
        return status_of(client, task_id)["status"] in ("finished", "failed")

    wait_until(done)
    return status_of(client, task_id)


def submit_decoding(client: TestClient, audio: Path) -> dict[str, Any]:
    """Submit a task and wait until the fake decoder has started it."""
    task = submit(client, audio)
    wait_until(lambda: status_of(client, task["task_id"])["status"] == "processing")
    return task
