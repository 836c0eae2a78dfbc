"""API keys and proxy trust, against the app with a fake decoder."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from ipaddress import ip_network
from pathlib import Path

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from tests.unit.whisper_api.helpers import serving, wait_until
from whisper_api.api.contract import PAGE_FILES
from whisper_api.settings import Settings

KEY_A, KEY_B = "key-of-ada", "key-of-bob"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}


@pytest.fixture
def keyed(settings: Settings) -> Iterator[TestClient]:
    with serving(dataclasses.replace(settings, api_keys=frozenset({KEY_A, KEY_B}))) as client:
        yield client


def upload(client: TestClient, audio: Path, headers: dict[str, str]) -> str:
    with audio.open("rb") as file:
        response = client.post("/api/v1/transcribe", files={"file": file}, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["task_id"])


API_ROUTES = [
    ("GET", "/api/v1/status?task_id=" + "0" * 32),
    ("GET", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks/" + "0" * 32 + "/result"),
    ("DELETE", "/api/v1/tasks/" + "0" * 32),
    ("POST", "/api/v1/transcribe"),
    ("POST", "/v1/audio/transcriptions"),
    ("GET", "/v1/models"),
    ("GET", "/api/v1/decoder_status"),
    ("GET", "/api/v1/models"),
    ("GET", "/api/v1/logs"),
    ("GET", "/metrics"),
    ("POST", "/asr"),
    ("POST", "/detect-language"),
    ("GET", "/status"),
]


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY_A}"}]
)
def test_every_api_route_needs_a_valid_key(
    keyed: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = keyed.request(method, path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/", "/openapi.json", "/docs"])
def test_health_and_the_page_stay_public(keyed: TestClient, path: str) -> None:
    keyed.get("/api/v1/decoder_status_refresh", headers=A)  # the fake decoder's model loads
    # /readyz answers 200 once the decoder has said so, which a busy machine can delay.
    wait_until(lambda: keyed.get(path).status_code == 200)


def test_the_right_key_works_and_tasks_belong_to_it(keyed: TestClient, audio: Path) -> None:
    task_id = upload(keyed, audio, A)
    assert keyed.get("/api/v1/status", params={"task_id": task_id}, headers=A).status_code == 200
    # Another key sees no such task, exactly as for an unknown id.
    assert keyed.get("/api/v1/status", params={"task_id": task_id}, headers=B).status_code == 400
    assert keyed.get(f"/api/v1/tasks/{task_id}", headers=B).status_code == 404
    assert keyed.delete(f"/api/v1/tasks/{task_id}", headers=B).status_code == 404
    assert keyed.get("/api/v1/tasks", headers=B).json()["tasks"] == []
    assert [task["task_id"] for task in keyed.get("/api/v1/tasks", headers=A).json()["tasks"]] == [task_id]
    assert keyed.get("/v1/models", headers={"Authorization": f"bearer {KEY_B}"}).status_code == 200


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_a_key_in_the_url_is_the_same_key(keyed: TestClient, audio: Path) -> None:
    """Bazarr and its kind take only a URL: http://whisper:KEY@host sends Basic auth."""
    task_id = upload(keyed, audio, basic("whisper", KEY_A))
    assert keyed.get("/api/v1/status", params={"task_id": task_id}, headers=A).status_code == 200
    # The key as the user name, with no password (http://KEY@host), is the same key too.
    assert (
        keyed.get("/api/v1/status", params={"task_id": task_id}, headers=basic(KEY_A, "")).status_code == 200
    )
    assert (
        keyed.get("/api/v1/status", params={"task_id": task_id}, headers=basic("x", KEY_B)).status_code == 400
    )
    assert keyed.get("/status", headers=basic("whisper", "wrong")).status_code == 401


def test_proxy_headers_count_only_from_trusted_proxies(settings: Settings, audio: Path) -> None:
    distrustful = dataclasses.replace(settings, trusted_proxies=(ip_network("10.0.0.0/8"),))
    with serving(distrustful) as client:
        info = client.get("/api/v1/userinfo", headers={"X-Email": "ops@example.org"}).json()
        task_id = upload(client, audio, {"X-Email": "ada@example.org"})
        listed = client.get("/api/v1/tasks").json()["tasks"]
    assert info["email"] is None and info["authenticated"] is False
    # The header was ignored: the task belongs to nobody, and nobody lists it.
    assert [task["task_id"] for task in listed] == [task_id]


def test_proxy_users_own_their_tasks(client: TestClient, audio: Path) -> None:
    task_id = upload(client, audio, {"X-User": "ada"})
    assert client.get(f"/api/v1/tasks/{task_id}", headers={"X-User": "ada"}).status_code == 200
    assert client.get(f"/api/v1/tasks/{task_id}", headers={"X-User": "bob"}).status_code == 404
    assert client.get(f"/api/v1/tasks/{task_id}").status_code == 404


def test_logs_are_not_for_forwarded_requests(client: TestClient) -> None:
    # From loopback but through a local reverse proxy: not the operator at the machine.
    assert client.get("/api/v1/logs", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    assert client.get("/api/v1/logs").status_code == 200


def test_a_realtime_socket_needs_the_key_as_a_header_or_a_subprotocol(keyed: TestClient) -> None:
    with pytest.raises(WebSocketDenialResponse) as denied, keyed.websocket_connect("/v1/realtime"):
        pass
    assert denied.value.status_code == 401
    assert denied.value.json()["error"]["code"] == "unauthorized"
    offered = ["realtime", f"openai-insecure-api-key.{KEY_B}"]
    with keyed.websocket_connect("/v1/realtime", subprotocols=offered) as socket:
        assert socket.accepted_subprotocol == "realtime"
        assert socket.receive_json()["type"] == "session.created"
    with keyed.websocket_connect("/v1/realtime", headers=A) as socket:
        assert socket.receive_json()["type"] == "session.created"


def test_every_page_file_loads_without_a_key(keyed: TestClient) -> None:
    for path in PAGE_FILES:
        assert keyed.get(path).status_code == 200, path


def test_a_socket_from_a_page_of_another_origin_is_refused(settings: Settings) -> None:
    allowing = dataclasses.replace(settings, allowed_origins=frozenset({"https://app.example.org/"}))
    with serving(allowing) as client:
        with (
            pytest.raises(WebSocketDenialResponse) as denied,
            client.websocket_connect("/v1/realtime", headers={"Origin": "https://evil.example"}),
        ):
            pass
        assert denied.value.status_code == 403
        assert denied.value.json()["error"]["code"] == "origin_not_allowed"
        # The server's own origin, one the operator named, and a client that is no browser.
        for headers in ({"Origin": "http://testserver"}, {"Origin": "https://APP.example.org"}, {}):
            with client.websocket_connect("/v1/realtime", headers=headers) as socket:
                assert socket.receive_json()["type"] == "session.created", headers
        # A page's origin is never a plain HTTP request's concern.
        assert client.get("/healthz", headers={"Origin": "https://evil.example"}).status_code == 200


ADMIN_KEY = "key-of-the-operator"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def test_only_an_admin_key_manages_models_and_it_is_an_api_key_too(settings: Settings) -> None:
    both = dataclasses.replace(settings, api_keys=frozenset({KEY_A}), admin_api_keys=frozenset({ADMIN_KEY}))
    with serving(both) as client:
        assert client.get("/api/v1/models").status_code == 401
        refused = client.get("/api/v1/models", headers=A)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert client.get("/api/v1/models", headers=ADMIN).status_code == 200
        assert client.get("/api/v1/tasks", headers=ADMIN).status_code == 200


def test_admin_keys_alone_guard_model_management_only(settings: Settings) -> None:
    with serving(dataclasses.replace(settings, admin_api_keys=frozenset({ADMIN_KEY}))) as client:
        assert client.get("/api/v1/tasks").status_code == 200
        # From loopback too: with admin keys set, only they manage models.
        assert client.get("/api/v1/models").status_code == 403
        assert client.get("/api/v1/models", headers=A).status_code == 403
        assert client.get("/api/v1/models", headers=ADMIN).status_code == 200


def test_without_admin_keys_models_are_managed_from_this_machine_only(client: TestClient) -> None:
    assert client.get("/api/v1/models").status_code == 200
    proxied = client.get("/api/v1/models", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403
    assert "ADMIN_API_KEYS" in proxied.json()["error"]["message"]
