"""Property test of the HTTP surface against the real server: no request gets a 500, and every
error is the documented JSON shape."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import RunningServer

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
