"""Listing, reading and cancelling tasks, against the fake decoder process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.unit.whisper_api.helpers import status_of, submit, submit_decoding, wait_until
from whisper_api.app import begin_shutdown
from whisper_api.settings import Settings


def test_cancelling_a_waiting_task(client: TestClient, audio: Path, settings: Settings) -> None:
    decoding = submit_decoding(client, audio)
    waiting = submit(client, audio)
    response = client.delete(f"/api/v1/tasks/{waiting['task_id']}")
    assert response.status_code == 200
    assert response.json() == {"task_id": waiting["task_id"], "status": "cancelled"}
    assert client.get(f"/api/v1/tasks/{waiting['task_id']}").status_code == 404
    assert len(list(settings.upload_dir.iterdir())) == 1
    client.get("/api/v1/decoder_status_refresh")
    wait_until(lambda: status_of(client, decoding["task_id"])["status"] == "finished")
    assert client.get("/api/v1/tasks").json()["tasks"][0]["task_id"] == decoding["task_id"]
    assert len(client.get("/api/v1/tasks").json()["tasks"]) == 1


def test_cancelling_a_decoding_task_drops_its_result(client: TestClient, audio: Path) -> None:
    decoding = submit_decoding(client, audio)
    response = client.delete(f"/api/v1/tasks/{decoding['task_id']}")
    assert (response.status_code, response.json()["status"]) == (202, "cancelling")
    client.get("/api/v1/decoder_status_refresh")
    wait_until(lambda: client.get(f"/api/v1/tasks/{decoding['task_id']}").status_code == 404)


def test_deleting_an_ended_task(client: TestClient, audio: Path) -> None:
    task = submit_decoding(client, audio)
    client.get("/api/v1/decoder_status_refresh")
    wait_until(lambda: status_of(client, task["task_id"])["status"] == "finished")
    assert client.get(f"/api/v1/tasks/{task['task_id']}").json()["transcript"] == "heard auto"
    assert client.delete(f"/api/v1/tasks/{task['task_id']}").json()["status"] == "deleted"
    assert status_of(client, task["task_id"])["error"]["code"] == "task_not_found"


def test_listing_shows_only_the_callers_tasks(client: TestClient, audio: Path) -> None:
    for email in ("ada@example.org", "bob@example.org", "ada@example.org"):
        with audio.open("rb") as file:
            client.post("/api/v1/transcribe", files={"file": file}, headers={"X-Email": email})
    listing = client.get("/api/v1/tasks", params={"limit": 1}, headers={"X-Email": "Ada@Example.org"}).json()
    assert listing["limit"] == 1 and len(listing["tasks"]) == 1
    everything = client.get("/api/v1/tasks", headers={"X-Email": "ada@example.org"}).json()["tasks"]
    assert len(everything) == 2
    assert set(everything[0]) >= {"task_id", "status", "position_in_queue", "time_uploaded"}
    assert client.get("/api/v1/tasks").json()["tasks"] == []


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=201", "limit=ten", "offset=-1", "offset=9223372036854775808"]
)
def test_bad_paging_is_400(client: TestClient, query: str) -> None:
    response = client.get(f"/api/v1/tasks?{query}")
    assert response.status_code == 400
    assert "must be a whole number" in response.json()["detail"]


@pytest.mark.parametrize("task_id", ["xyz", "A" * 32, "0" * 31, "../../etc/passwd"])
def test_malformed_task_ids_are_400(client: TestClient, task_id: str) -> None:
    assert "malformed task_id" in status_of(client, task_id)["detail"]
    assert client.delete(f"/api/v1/tasks/{task_id}").status_code in (400, 404)


def test_uploads_are_refused_while_shutting_down(client: TestClient, audio: Path, settings: Settings) -> None:
    begin_shutdown(client.app)  # type: ignore[arg-type]
    with audio.open("rb") as file:
        response = client.post("/api/v1/transcribe", files={"file": file})
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert list(settings.upload_dir.iterdir()) == []


def test_result_formats_and_their_errors(client: TestClient, audio: Path) -> None:
    task = submit_decoding(client, audio)
    url = f"/api/v1/tasks/{task['task_id']}/result"
    assert "processing" in client.get(url).json()["detail"]
    client.get("/api/v1/decoder_status_refresh")
    wait_until(lambda: status_of(client, task["task_id"])["status"] == "finished")
    assert client.get(url).json()["text"] == "heard auto"
    assert client.get(url, params={"format": "txt"}).text == "heard auto\n"
    vtt = client.get(url, params={"format": "vtt"})
    assert (vtt.headers["content-type"], vtt.text) == (
        "text/vtt; charset=utf-8",
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nheard auto\n",
    )
    assert client.get(url, params={"format": "pdf"}).status_code == 400
    assert client.get(url, params={"format": "srt", "max_line_width": "0"}).status_code == 400


def test_language_detection(client: TestClient, audio: Path, settings: Settings) -> None:
    with audio.open("rb") as file:
        response = client.post("/api/v1/detect-language", files={"file": file})
    assert response.json() == {
        "language": "de",
        "language_name": "german",
        "probability": 0.875,
        "languages": [
            {"code": "de", "name": "german", "probability": 0.875},
            {"code": "en", "name": "english", "probability": 0.125},
        ],
        "windows": 2,
    }
    assert list(settings.upload_dir.iterdir()) == []


def test_options_reach_the_job(client: TestClient, audio: Path) -> None:
    with audio.open("rb") as file:
        refused = client.post("/api/v1/transcribe", files={"file": file}, data={"beam_size": "99"})
    assert refused.status_code == 400 and "beam_size" in refused.json()["detail"]
    with audio.open("rb") as file:
        bad_hook = client.post(
            "/api/v1/transcribe", files={"file": file}, data={"callback_url": "file:///etc"}
        )
    assert bad_hook.json()["error"]["code"] == "callback_rejected"


def test_watchers_of_a_cancelled_task_are_told(client: TestClient, audio: Path) -> None:
    decoding = submit_decoding(client, audio)
    lines: list[str] = []
    with client.stream("GET", f"/api/v1/tasks/{decoding['task_id']}/events") as stream:
        assert client.delete(f"/api/v1/tasks/{decoding['task_id']}").status_code == 202
        client.get("/api/v1/decoder_status_refresh")
        lines.extend(line for line in stream.iter_lines() if line.startswith("data: "))
    last = json.loads(lines[-1].removeprefix("data: "))
    assert last == {"task_id": decoding["task_id"], "status": "cancelled"}
