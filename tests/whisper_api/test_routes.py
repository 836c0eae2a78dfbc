"""Route behaviour against a fake decoder process (the real one is in test_end_to_end)."""

from __future__ import annotations

import contextlib
import math
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.fake_decoder import run_fake_decoder
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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        max_model="base",
        max_task_queue_size=2,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        log_level_console="CRITICAL",
    )


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[TestClient]:
    """The app, its lifespan and a fake decoder process, with logging as the server sets it up."""
    pipeline = LogPipeline(settings)
    pipeline.start()
    try:
        with TestClient(create_app(settings, pipeline.queue, run_fake_decoder)) as test_client:
            yield test_client
    finally:
        pipeline.stop()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with serving(settings) as test_client:
        yield test_client


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    return tone(tmp_path / "tone.wav")


def submit(client: TestClient, audio: Path, endpoint: str = "transcribe", **params: str) -> dict[str, Any]:
    with audio.open("rb") as file:
        response = client.post(f"/api/v1/{endpoint}", files={"file": (audio.name, file)}, params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_upload_poll_and_download(client: TestClient, audio: Path, settings: Settings) -> None:
    first = submit(client, audio)
    second = submit(client, audio, endpoint="translate", language="German")
    assert (first["status"], first["position_in_queue"]) == ("pending", 0)
    assert (second["task_type"], second["language"], second["position_in_queue"]) == ("translate", "de", 1)
    assert len(list(settings.upload_dir.iterdir())) == 2

    client.get("/api/v1/decoder_status_refresh")
    done = client.get("/api/v1/status", params={"task_id": second["task_id"]}).json()
    assert done["status"] == "finished"
    assert done["transcript"] == "heard de"
    assert done["processing_duration"] == 0.5
    assert done["position_in_queue"] is None
    srt = client.get("/api/v1/srt", params={"task_id": second["task_id"]})
    assert srt.text == "1\n00:00:00,000 --> 00:00:01,500\nheard de\n"
    assert srt.headers["content-disposition"] == 'attachment; filename="tone.srt"'
    # Finished jobs no longer need their audio.
    assert list(settings.upload_dir.iterdir()) == []


def test_full_queue_answers_429(client: TestClient, audio: Path, settings: Settings) -> None:
    submit(client, audio)
    submit(client, audio)
    with audio.open("rb") as file:
        response = client.post("/api/v1/transcribe", files={"file": file})
    assert response.status_code == 429
    assert response.headers["retry-after"]
    assert response.json()["error"]["code"] == "queue_full"
    assert len(list(settings.upload_dir.iterdir())) == 2


@pytest.mark.parametrize(
    ("params", "message"),
    [({"language": "klingon"}, "unknown language 'klingon'"), ({"language": "xx"}, "unknown language")],
)
def test_bad_language_is_400(client: TestClient, audio: Path, params: dict[str, str], message: str) -> None:
    with audio.open("rb") as file:
        response = client.post("/api/v1/transcribe", files={"file": file}, params=params)
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_missing_file_field_is_400(client: TestClient, audio: Path, settings: Settings) -> None:
    with audio.open("rb") as file:
        wrong_field = client.post("/api/v1/transcribe", files={"audio": file})
    not_multipart = client.post("/api/v1/transcribe", content=b"hello")
    for response in (wrong_field, not_multipart):
        assert response.status_code == 400
        assert "'file'" in response.json()["error"]["message"]
    assert list(settings.upload_dir.iterdir()) == []


@pytest.mark.parametrize("content", [b"", b"plain text, not audio\n" * 10, b"RIFF\x00\x00\x00\x00WAVEfmt "])
def test_unreadable_uploads_are_400_and_not_kept(
    client: TestClient, settings: Settings, content: bytes
) -> None:
    response = client.post("/api/v1/transcribe", files={"file": ("song.mp3", content)})
    assert response.status_code == 400
    assert "audio" in response.json()["detail"]
    assert list(settings.upload_dir.iterdir()) == []


def test_video_without_audio_track_is_400(client: TestClient, tmp_path: Path) -> None:
    video = tmp_path / "silent.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=black:s=32x32:d=1", str(video)],
        check=True,
    )
    with video.open("rb") as file:
        response = client.post("/api/v1/transcribe", files={"file": file})
    assert response.status_code == 400
    assert response.json()["detail"] == "the file has no audio track"


def test_unknown_and_missing_task_ids(client: TestClient) -> None:
    assert client.get("/api/v1/status", params={"task_id": "nope"}).status_code == 400
    missing = client.get("/api/v1/status")
    assert missing.status_code == 400 and "task_id" in missing.json()["detail"]


def test_srt_of_pending_task_is_refused(client: TestClient, audio: Path) -> None:
    task = submit(client, audio)
    response = client.get("/api/v1/srt", params={"task_id": task["task_id"]})
    assert response.status_code == 400
    assert "pending" in response.json()["detail"]


def test_routing_errors_are_json(client: TestClient) -> None:
    not_found = client.get("/api/v1/nothing")
    wrong_method = client.get("/api/v1/transcribe")
    assert (not_found.status_code, not_found.json()["error"]["code"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (405, "method_not_allowed")


def test_decoder_status_counts_the_queue(client: TestClient, audio: Path) -> None:
    submit(client, audio)
    status = client.get("/api/v1/decoder_status").json()
    assert status["max_model_to_use"] == "base"
    assert status["tasks_in_queue"] == 1
    assert client.get("/api/v1/decoder_status_refresh").json()["tasks_in_queue"] == 0


def test_english_only_model_refuses_other_languages(tmp_path: Path, audio: Path) -> None:
    settings = Settings(max_model="tiny.en", data_dir=tmp_path / "data", log_dir=tmp_path / "logs",
                        log_level_console="CRITICAL")  # fmt: skip
    with serving(settings) as client:
        with audio.open("rb") as file:
            refused = client.post("/api/v1/translate", files={"file": file}, params={"language": "fr"})
        accepted = submit(client, audio, endpoint="translate", language="en")
    assert refused.status_code == 400
    assert "tiny.en is English-only" in refused.json()["detail"]
    assert "multilingual model" in refused.json()["detail"]
    assert accepted["language"] == "en"


def test_logs_only_for_authorised_mails(tmp_path: Path) -> None:
    settings = Settings(log_authorized_mails=frozenset({"ops@example.org"}), data_dir=tmp_path / "data",
                        log_dir=tmp_path / "logs", log_level_console="CRITICAL")  # fmt: skip
    with serving(settings) as client:
        stranger = client.get("/api/v1/logs", headers={"X-Email": "eve@example.org"})
        operator = client.get("/api/v1/logs", headers={"X-Email": "Ops@Example.org"})
        info = client.get("/api/v1/userinfo", headers={"X-Email": "ops@example.org"}).json()
        open_redirect = client.get("/api/v1/login?redirect=//evil.example", follow_redirects=False)
        local_redirect = client.get("/api/v1/login?redirect=/page", follow_redirects=False)
    assert stranger.status_code == 403
    assert operator.status_code == 200 and operator.headers["content-type"] == "application/zip"
    assert info["may_download_logs"] is True and info["authenticated"] is True
    assert open_redirect.headers["location"] == "/"
    assert local_redirect.headers["location"] == "/page"
