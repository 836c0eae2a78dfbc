"""Every documented route of the real server, answered as /openapi.json says: a documented
status, a documented media type, and for JSON a body valid against the document's schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.support.server import RunningServer, wait_for_task
from whisper_api.api.contract import OPENAI_RESPONSE_FORMATS, PAGE_FILES

pytestmark = pytest.mark.slow


class Checker:
    """Checks answers against the live document and remembers which operations it saw."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.seen: set[tuple[str, str]] = set()

    def check(self, path: str, method: str, response: httpx.Response) -> httpx.Response:
        operation = self.document["paths"][path][method]
        documented = operation["responses"].get(str(response.status_code))
        assert documented is not None, (
            f"{method} {path}: undocumented {response.status_code}: {response.text}"
        )
        self.seen.add((path, method))
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        content = documented.get("content")
        if content is None:
            return response
        assert media_type in content, f"{method} {path}: {media_type} is not one of {list(content)}"
        if media_type == "application/json":
            self.validate(content[media_type]["schema"], response.json(), f"{method} {path}")
        elif media_type == "text/event-stream":
            for data in _event_data(response.text):
                self.validate(content[media_type]["x-event-data"], data, f"an event of {path}")
        return response

    def validate(self, schema: dict[str, Any], body: Any, where: str) -> None:
        # The schema's $refs point into the document: validate with the document as the root.
        validator = Draft202012Validator({**schema, "components": self.document["components"]})
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, f"{where}: {errors}"


def _event_data(stream: str) -> Iterator[Any]:
    for line in stream.splitlines():
        if line.startswith("data: "):
            yield json.loads(line.removeprefix("data: "))


def test_every_documented_route_answers_as_documented(server: RunningServer, speech_dir: Path) -> None:
    speech = speech_dir / "paragraph2.wav"
    with server.client(timeout=300) as client:
        checker = Checker(client.get("/openapi.json").json())
        check = checker.check
        check("/openapi.json", "get", client.get("/openapi.json"))

        def upload(path: str, **fields: str) -> httpx.Response:
            with speech.open("rb") as audio:
                return client.post(path, files={"file": (speech.name, audio)}, data=fields)

        accepted = check("/api/v1/transcribe", "post", upload("/api/v1/transcribe")).json()
        task_id = accepted["task_id"]
        translation = check("/api/v1/translate", "post", upload("/api/v1/translate")).json()
        diarized = check("/api/v1/transcribe", "post", upload("/api/v1/transcribe", diarize="true")).json()
        check("/api/v1/tasks/{task_id}", "get", client.get(f"/api/v1/tasks/{task_id}"))
        wait_for_task(client, task_id)
        wait_for_task(client, translation["task_id"])
        wait_for_task(client, diarized["task_id"])
        speakers = f"/api/v1/tasks/{diarized['task_id']}/speakers"
        renamed = check(
            "/api/v1/tasks/{task_id}/speakers", "put", client.put(speakers, json={"SPEAKER_00": "Ann"})
        )
        assert renamed.json()["speakers"][0] == "Ann"
        no_speakers = client.put(f"/api/v1/tasks/{task_id}/speakers", json={"SPEAKER_00": "Ann"})
        assert no_speakers.status_code == 400
        check("/api/v1/tasks/{task_id}/speakers", "put", no_speakers)
        status = check("/api/v1/status", "get", client.get("/api/v1/status", params={"task_id": task_id}))
        assert status.json()["status"] == "finished"
        check("/api/v1/srt", "get", client.get("/api/v1/srt", params={"task_id": task_id}))
        check("/api/v1/tasks", "get", client.get("/api/v1/tasks"))
        for fmt in ("json", "txt", "srt", "vtt", "tsv"):
            result = client.get(f"/api/v1/tasks/{task_id}/result", params={"format": fmt})
            check("/api/v1/tasks/{task_id}/result", "get", result)
        events = check("/api/v1/tasks/{task_id}/events", "get", client.get(f"/api/v1/tasks/{task_id}/events"))
        assert list(_event_data(events.text))
        # tiny.en is English-only: the server refuses to detect languages, as documented.
        check("/api/v1/detect-language", "post", upload("/api/v1/detect-language"))
        check("/api/v1/decoder_status", "get", client.get("/api/v1/decoder_status"))
        check("/api/v1/decoder_status_refresh", "get", client.get("/api/v1/decoder_status_refresh"))
        offered = check("/api/v1/languages", "get", client.get("/api/v1/languages")).json()
        assert offered["languages"] == [{"code": "en", "name": "english"}] and offered["tasks"] == [
            "transcribe"
        ]
        check("/api/v1/version", "get", client.get("/api/v1/version"))
        check("/api/v1/userinfo", "get", client.get("/api/v1/userinfo"))
        check("/api/v1/login", "get", client.get("/api/v1/login", params={"redirect": "/"}))
        check("/api/v1/logs", "get", client.get("/api/v1/logs"))
        # Model management, from loopback without keys: an admin's. Nothing here changes the
        # shared server's models (tests/system/test_models_api.py does, on a server of its own).
        check("/api/v1/models", "get", client.get("/api/v1/models"))
        check("/api/v1/models", "post", client.post("/api/v1/models", json={"name": "tiny.en"}))
        unknown = "/api/v1/models/imports/" + "0" * 32
        check("/api/v1/models/imports/{import_id}", "get", client.get(unknown))
        check("/api/v1/models/imports/{import_id}/events", "get", client.get(f"{unknown}/events"))
        check("/api/v1/models/{name}/load", "post", client.post("/api/v1/models/tiny.en/load"))
        check("/api/v1/models/{name}/unload", "post", client.post("/api/v1/models/small/unload"))
        check("/api/v1/models/{name}", "delete", client.delete("/api/v1/models/small"))
        for response_format in OPENAI_RESPONSE_FORMATS:
            fields = {"model": "whisper-1", "response_format": response_format}
            if response_format == "verbose_json":
                fields["timestamp_granularities[]"] = "word,segment"
            check("/v1/audio/transcriptions", "post", upload("/v1/audio/transcriptions", **fields))
        check("/v1/audio/translations", "post", upload("/v1/audio/translations", model="whisper-1"))
        check("/v1/models", "get", client.get("/v1/models"))
        streamed = upload("/v1/audio/transcriptions", model="whisper-1", stream="true")
        assert "transcript.text.done" in check("/v1/audio/transcriptions", "post", streamed).text

        def asr_upload(path: str, **params: str) -> httpx.Response:
            with speech.open("rb") as audio:
                return client.post(path, params=params, files={"audio_file": (speech.name, audio)})

        for output in ("txt", "json", "srt", "vtt", "tsv"):
            check("/asr", "post", asr_upload("/asr", output=output))
        check("/asr", "post", asr_upload("/asr", output="docx"))
        check("/detect-language", "post", asr_upload("/detect-language"))
        check("/status", "get", client.get("/status"))
        check("/healthz", "get", client.get("/healthz"))
        check("/readyz", "get", client.get("/readyz"))
        check("/metrics", "get", client.get("/metrics"))
        check("/docs", "get", client.get("/docs"))
        for page in PAGE_FILES:
            check(page, "get", client.get(page))
        check("/api/v1/tasks/{task_id}", "delete", client.delete(f"/api/v1/tasks/{translation['task_id']}"))
        # Errors have the documented shape too.
        missing = client.get("/api/v1/tasks/" + "0" * 32)
        assert missing.status_code == 404
        check("/api/v1/tasks/{task_id}", "get", missing)
        check("/api/v1/status", "get", client.get("/api/v1/status", params={"task_id": "nope"}))
    documented = {(path, method) for path, methods in checker.document["paths"].items() for method in methods}
    assert checker.seen == documented, documented - checker.seen
