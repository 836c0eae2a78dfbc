"""Uploads kept in PostgreSQL (MEDIA_STORE=database), on a real server and a real database: an
accepted upload is one large object and no file, deleting its task deletes it, and an upload
refused, cut off mid-stream, or caught by a database restart leaves no large object, no job and
no file behind. The host is an API host: no worker takes the uploads away meanwhile."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.postgres_cluster import PostgresCluster
from tests.support.server import STEP_DEADLINE_S, RunningServer
from tests.support.speech import PARAGRAPHS, speak
from tests.system.test_durability import upload
from tests.system.test_hostile_input import BOUNDARY, KIB, port_of, request_head, uploads_left
from tests.system.test_hosts import start_host

pytestmark = pytest.mark.slow


def stored(database_url: str) -> tuple[int, int]:
    """How many large objects and how many jobs the database holds."""
    with psycopg.connect(database_url, autocommit=True) as db:
        row = db.execute(
            "SELECT (SELECT count(*) FROM pg_largeobject_metadata), (SELECT count(*) FROM jobs)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def api_host(home: Path, model_dir: Path, database_url: str) -> RunningServer:
    """An API host that has heard a worker announce its model (it checks uploads against it),
    and no worker left to take the uploads away."""
    settings = {"MEDIA_STORE": "database"}
    worker = start_host(
        home / "worker", model_dir, database_url, home / "worker" / "data", ROLE="worker", **settings
    )
    try:
        api = start_host(home, model_dir, database_url, home / "data", ROLE="api", **settings)
        deadline = time.monotonic() + STEP_DEADLINE_S
        while "concern" in (ready := httpx.get(f"{api.url}/readyz")).json():
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.2)
    finally:
        worker.stop()
    return api


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    return speak(PARAGRAPHS[0], tmp_path / "speech.wav")


@pytest.fixture
def host(tmp_path: Path, model_dir: Path, database_url: str) -> Iterator[RunningServer]:
    running = api_host(tmp_path / "api", model_dir, database_url)
    yield running
    running.stop()


def test_an_upload_is_one_large_object_until_its_task_is_deleted(
    host: RunningServer, database_url: str, speech: Path
) -> None:
    with host.client() as client:
        task = upload(client, speech)
        assert stored(database_url) == (1, 1)
        assert uploads_left(host) == []  # the database holds it, not this host's folder
        assert client.delete(f"/api/v1/tasks/{task}").status_code == 200
        assert client.get(f"/api/v1/tasks/{task}").status_code == 404
    assert stored(database_url) == (0, 0)


def test_refused_and_cut_off_uploads_leave_nothing(
    host: RunningServer, database_url: str, speech: Path
) -> None:
    with host.client() as client:
        refused = client.post("/api/v1/transcribe", files={"file": ("noise.wav", b"not audio at all" * 100)})
        assert 400 <= refused.status_code < 500, refused.text
    assert stored(database_url) == (0, 0)
    # An upload cut off mid-stream: half its body, then the connection is gone.
    port = port_of(host)
    body = speech.read_bytes()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request_head(port, len(body) + 400) + body[: 64 * KIB])
    deadline = time.monotonic() + STEP_DEADLINE_S
    while uploads_left(host):
        assert time.monotonic() < deadline, uploads_left(host)
        time.sleep(0.1)
    assert stored(database_url) == (0, 0)
    with httpx.Client(base_url=host.url) as client:
        assert client.get("/readyz").status_code == 200  # it still serves


def test_a_database_restart_mid_upload_is_503_and_nothing_half_stored(
    tmp_path: Path, model_dir: Path, speech: Path
) -> None:
    cluster = PostgresCluster()
    cluster.start()
    try:
        url = cluster.create_database("media")
        host = api_host(tmp_path / "api", model_dir, url)
        try:
            body = speech.read_bytes()
            head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="s.wav"\r\n\r\n'
            parts = [
                head.encode(),
                body[: len(body) // 2],
                body[len(body) // 2 :],
                f"\r\n--{BOUNDARY}--\r\n".encode(),
            ]

            def slowly() -> Iterator[bytes]:
                yield from parts[:2]
                cluster.stop()  # the database goes away with half the body sent
                yield from parts[2:]

            with host.client() as client:
                answer = client.post(
                    "/api/v1/transcribe",
                    content=slowly(),
                    headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                )
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] and answer.json()["error"]["code"] == "storage_unavailable"
            cluster.start()
            assert stored(url) == (0, 0)
            assert uploads_left(host) == []
        finally:
            host.stop()
    finally:
        cluster.remove()
