"""Route behaviour against a fake decoder process (the real one is in test_end_to_end)."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.unit.whisper_api.helpers import finish, serving, status_of, submit, submit_decoding, wait_until
from whisper_api.settings import Settings


def test_upload_poll_and_download(client: TestClient, audio: Path, settings: Settings) -> None:
    first = submit_decoding(client, audio)
    second = submit(client, audio, endpoint="translate", language="German")
    assert status_of(client, first["task_id"])["position_in_queue"] is None
    assert (second["status"], second["position_in_queue"]) == ("pending", 0)
    assert (second["task_type"], second["language"]) == ("translate", "de")
    assert len(list(settings.upload_dir.iterdir())) == 2

    done = finish(client, second["task_id"])
    assert status_of(client, first["task_id"])["status"] == "finished"
    assert done["transcript"] == "heard de"
    assert done["processing_duration"] == 0.5
    assert done["position_in_queue"] is None
    srt = client.get("/api/v1/srt", params={"task_id": second["task_id"]})
    assert srt.text == "1\n00:00:00,000 --> 00:00:01,500\nheard de\n"
    assert srt.headers["content-disposition"] == 'attachment; filename="tone.srt"'
    # Ended jobs no longer need their audio.
    wait_until(lambda: list(settings.upload_dir.iterdir()) == [])


def test_full_queue_answers_429(client: TestClient, audio: Path, settings: Settings) -> None:
    submit_decoding(client, audio)
    submit(client, audio)
    submit(client, audio)
    with audio.open("rb") as file:
        response = client.post("/api/v1/transcribe", files={"file": file})
    assert response.status_code == 429
    assert response.headers["retry-after"]
    assert response.json()["error"]["code"] == "queue_full"
    assert len(list(settings.upload_dir.iterdir())) == 3


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


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"plain text, not audio\n" * 10, "audio"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio"),
    ],
)
def test_unreadable_uploads_are_400_and_not_kept(
    client: TestClient, settings: Settings, content: bytes, message: str
) -> None:
    response = client.post("/api/v1/transcribe", files={"file": ("song.mp3", content)})
    assert response.status_code == 400
    assert message in response.json()["detail"]
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


def test_srt_of_unfinished_task_is_refused(client: TestClient, audio: Path) -> None:
    task = submit_decoding(client, audio)
    response = client.get("/api/v1/srt", params={"task_id": task["task_id"]})
    assert response.status_code == 400
    assert response.json()["detail"] == "the task is processing; subtitles exist once it is finished"


def test_routing_errors_are_json(client: TestClient) -> None:
    not_found = client.get("/api/v1/nothing")
    wrong_method = client.get("/api/v1/transcribe")
    assert (not_found.status_code, not_found.json()["error"]["code"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (405, "method_not_allowed")


def test_decoder_status_counts_the_queue(client: TestClient, audio: Path) -> None:
    first = submit_decoding(client, audio)
    second = submit(client, audio)
    wait_until(lambda: client.get("/api/v1/decoder_status").json()["tasks_in_queue"] == 1)
    status = client.get("/api/v1/decoder_status").json()
    assert (status["max_model_to_use"], status["currently_busy"]) == ("base", True)
    assert (status["restarting"], status["restarts"]) == (False, 0)
    (decoder,) = status["decoders"]
    assert (decoder["decoder"], decoder["pid"], decoder["currently_busy"]) == (0, status["pid"], True)
    assert decoder["task_id"] == first["task_id"]
    # The decoder finishes the first and takes the second: nothing waits any more.
    client.get("/api/v1/decoder_status_refresh")
    wait_until(lambda: status_of(client, second["task_id"])["status"] == "processing")
    assert client.get("/api/v1/decoder_status").json()["decoders"][0]["task_id"] == second["task_id"]
    assert client.get("/api/v1/decoder_status").json()["tasks_in_queue"] == 0


def test_english_only_model_refuses_other_languages(tmp_path: Path, audio: Path) -> None:
    settings = Settings(max_model="tiny.en", data_dir=tmp_path / "data", log_dir=tmp_path / "logs",
                        log_level_console="CRITICAL")  # fmt: skip
    with serving(settings) as client:
        with audio.open("rb") as file:
            refused = client.post("/api/v1/translate", files={"file": file}, params={"language": "fr"})
        accepted = submit(client, audio, endpoint="translate", language="en")
        with audio.open("rb") as file:
            detection = client.post("/api/v1/detect-language", files={"file": file})
    assert detection.status_code == 400
    assert "English-only and cannot tell languages apart" in detection.json()["detail"]
    assert refused.status_code == 400
    assert "tiny.en is English-only" in refused.json()["detail"]
    assert "multilingual model" in refused.json()["detail"]
    assert accepted["language"] == "en"


def test_the_languages_and_tasks_offered_follow_the_model(client: TestClient, tmp_path: Path) -> None:
    multilingual = client.get("/api/v1/languages").json()
    assert multilingual["english_only"] is False and multilingual["tasks"] == ["transcribe", "translate"]
    assert {entry["code"] for entry in multilingual["languages"]} == {"en", "de", "fr"}
    settings = Settings(max_model="tiny.en", data_dir=tmp_path / "data", log_dir=tmp_path / "logs",
                        log_level_console="CRITICAL")  # fmt: skip
    with serving(settings) as english:
        offered = english.get("/api/v1/languages").json()
    assert offered == {
        "model": "tiny.en",
        "english_only": True,
        "tasks": ["transcribe"],
        "languages": [{"code": "en", "name": "english"}],
    }


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


def test_each_decoder_of_a_pool_takes_a_task_and_the_queue_is_the_hosts(
    tmp_path: Path, audio: Path, settings: Settings
) -> None:
    with serving(dataclasses.replace(settings, decoders=2, max_task_queue_size=4)) as client:
        first, second = submit_decoding(client, audio), submit_decoding(client, audio)
        third = submit(client, audio)
        assert third["position_in_queue"] == 0
        status = client.get("/api/v1/decoder_status").json()
        assert [decoder["decoder"] for decoder in status["decoders"]] == [0, 1]
        assert {decoder["task_id"] for decoder in status["decoders"]} == {first["task_id"], second["task_id"]}
        assert len({decoder["pid"] for decoder in status["decoders"]}) == 2
        assert status["tasks_in_queue"] == 1 and status["currently_busy"]
        assert finish(client, third["task_id"])["transcript"] == "heard auto"
        metrics = client.get("/metrics").text
    for decoder in ("0", "1"):
        assert f'whisper_api_decoder_busy{{decoder="{decoder}"}}' in metrics
