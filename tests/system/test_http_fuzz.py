"""Property test of the HTTP surface against the real server: no request gets a 500, and every
error is the documented JSON shape."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.server import RunningServer

pytestmark = pytest.mark.slow

PATHS = [
    "/",
    "/api/v1/transcribe",
    "/api/v1/translate",
    "/api/v1/status",
    "/api/v1/srt",
    "/api/v1/tasks",
    "/api/v1/decoder_status",
    "/api/v1/version",
    "/api/v1/userinfo",
    "/api/v1/login",
]
text = st.text(st.characters(codec="utf-8"), max_size=40)
query_keys = st.sampled_from(["task_id", "language", "limit", "offset", "redirect", "format"]) | text
task_paths = text.map(lambda segment: "/api/v1/tasks/" + quote(segment, safe=""))
proxy_headers = st.dictionaries(
    st.sampled_from(["X-Email", "X-User"]), st.from_regex(r"[!-~]{0,30}", fullmatch=True), max_size=2
)
form_fields = st.dictionaries(st.sampled_from(["language", "model", "prompt"]) | text, text, max_size=3)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    request: dict[str, Any] = {
        "method": draw(st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"])),
        "url": draw(st.sampled_from(PATHS) | task_paths),
        "params": draw(st.dictionaries(query_keys, text, max_size=3)),
        "headers": draw(proxy_headers),
    }
    body = draw(st.sampled_from(["none", "bytes", "multipart"]))
    if body == "bytes":
        request["content"] = draw(st.binary(max_size=2000))
    elif body == "multipart":
        field = draw(st.sampled_from(["file", "audio"]) | text.filter(bool))
        request["files"] = {field: (draw(text) or "x", draw(st.binary(max_size=2000)))}
        request["data"] = draw(form_fields)
    return request


def test_no_request_gets_a_server_error(server: RunningServer) -> None:
    with server.client(timeout=30) as client:

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(requests())
        def check(request: dict[str, Any]) -> None:
            try:
                response = client.request(**request)
            except httpx.InvalidURL:
                return  # refused by the client before anything was sent
            assert response.status_code < 500, (request, response.text)
            if response.status_code >= 400:
                error = response.json()["error"]
                assert error["code"] and error["message"]

        check()


# Uploads: the fields the APIs read, with hostile values, and files that start like real media
# (or like playlists and scripts that name other files) and then go wrong.
MAGIC = [b"RIFF\x24\x08\x00\x00WAVEfmt ", b"ID3\x04\x00", b"fLaC", b"OggS\x00\x02", b"\x1aE\xdf\xa3"]
MAGIC += [b"\x00\x00\x00\x18ftypmp42", b"#EXTM3U\n#EXTINF:10,\n/etc/passwd\n", b"ffconcat version 1.0\n"]
UPLOAD_PATHS = [
    "/api/v1/transcribe",
    "/api/v1/translate",
    "/v1/audio/transcriptions",
    "/api/v1/detect-language",
]
field_names = st.sampled_from(
    [
        "language",
        "model",
        "prompt",
        "initial_prompt",
        "temperature",
        "beam_size",
        "word_timestamps",
        "callback_url",
        "response_format",
        "timestamp_granularities[]",
    ]
)
field_values = (
    text
    | st.sampled_from(["en", "xx", "-1", "1e309", "nan", "true", "tiny.en", "verbose_json", "word"])
    | st.sampled_from(["http://127.1/", "http://[::ffff:7f00:1]/", "http://169.254.169.254/", "file:///etc"])
    | st.text(max_size=5000)
)


@st.composite
def media_bytes(draw: st.DrawFn, speech: bytes) -> bytes:
    kind = draw(st.sampled_from(["prefix", "flipped", "magic"]))
    if kind == "prefix":
        return speech[: draw(st.integers(0, len(speech)))]
    if kind == "flipped":
        data = bytearray(speech)
        for position in draw(st.lists(st.integers(0, len(data) - 1), max_size=20)):
            data[position] ^= 0xFF
        return bytes(data)
    return draw(st.sampled_from(MAGIC)) + draw(st.binary(max_size=3000))


def test_no_upload_gets_a_server_error_or_leaves_anything_behind(
    server: RunningServer, speech_dir: Path
) -> None:
    speech = (speech_dir / "paragraph0.wav").read_bytes()[:40_000]
    with server.client(timeout=60) as client:

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            st.sampled_from(UPLOAD_PATHS),
            st.dictionaries(field_names, field_values, max_size=4),
            st.sampled_from(["a.wav", "a.m3u8", "a.mp4", "", "../../etc/x.wav", "a\u202e.wav"]),
            media_bytes(speech),
        )
        def check(path: str, fields: dict[str, str], filename: str, content: bytes) -> None:
            response = client.post(path, files={"file": (filename, content)}, data=fields)
            assert response.status_code < 500, (fields, response.text)
            if response.status_code >= 400:
                error = response.json()["error"]
                assert error["code"] and error["message"]
            elif "task_id" in response.text and path.startswith("/api/v1/t"):
                # Accepted: cancel it, so the queue stays short and nothing is left once it is gone.
                client.delete(f"/api/v1/tasks/{response.json()['task_id']}")

        check()
        listed = client.get("/api/v1/tasks", params={"limit": 200}).json()["tasks"]
        for task in listed:
            client.delete(f"/api/v1/tasks/{task['task_id']}")
    uploads = server.data_dir / "uploads"
    deadline = time.monotonic() + 60
    while any(uploads.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(uploads.glob("*.part"))
    assert sorted(uploads.iterdir()) == []
