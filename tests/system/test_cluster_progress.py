"""A decode's progress in a cluster, on one real PostgreSQL with real hosts: an API host and a
worker (the stand-in engine: a task of STAND_IN_TASK_S that reports its progress as an engine
does). The progress goes to the task's own channel, never to the channel every host hears; the
API host answers status polls with it from the store, and a client that follows the task's
events there hears it as it comes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from decoder.wire.choices import STAND_IN_ENGINE
from tests.support.notifications import Heard
from tests.support.server import STEP_DEADLINE_S, RunningServer, start_server, wait_for_task
from tests.system.test_durability import upload
from tests.system.test_hosts import events_of
from whisper_api.jobs.store.postgres import task_channel
from whisper_api.jobs.store.postgres.connection import CHANNEL

pytestmark = pytest.mark.slow


def test_progress_reaches_the_store_and_the_hosts_that_watch_it_only(
    tmp_path: Path, model_dir: Path, speech_dir: Path, database_url: str
) -> None:
    def host(name: str, role: str) -> RunningServer:
        return start_server(
            tmp_path / name,
            model_dir,
            DATABASE_URL=database_url,
            ROLE=role,
            MEDIA_STORE="database",
            ENGINE=STAND_IN_ENGINE,
            DECODERS="1",
        )

    worker, api = host("worker", "worker"), host("api", "api")
    heard = Heard(database_url, CHANNEL)
    audio = speech_dir / "paragraph0.wav"
    try:
        with heard.hearing(), api.client() as client:
            deadline = time.monotonic() + STEP_DEADLINE_S
            while "concern" in (ready := client.get("/readyz")).json():
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.2)
            # Nobody follows the task: its status polls find its progress in the store.
            task = upload(client, audio)
            heard.listen(task_channel(task))
            polled: list[float] = []
            deadline, body = time.monotonic() + STEP_DEADLINE_S, {"status": "pending"}
            while body["status"] != "finished":
                assert time.monotonic() < deadline, body
                body = client.get("/api/v1/status", params={"task_id": task}).json()
                if body["status"] == "processing":
                    polled.append(body["progress"])
                time.sleep(0.1)
            assert any(0 < progress < 1 for progress in polled), polled
            assert polled == sorted(polled)

            # A client follows the next task's events on the API host: it hears the progress.
            followed = upload(client, audio)
            events = events_of(client, followed)
            progress = [data["progress"] for name, data in events if name == "progress"]
            assert progress and progress == sorted(progress) and 0 < progress[0] < 1, events
            assert [data["status"] for name, data in events if name == "status"][-1] == "finished"
            assert wait_for_task(client, followed)["status"] == "finished"
        # Progress went only where it was asked for, never to every host.
        kinds = [payload["kind"] for payload in heard.payloads[CHANNEL]]
        assert "job" in kinds and "progress" not in kinds, kinds
        assert heard.payloads[task_channel(task)], "the task's channel carried no progress"
        assert {payload["kind"] for payload in heard.payloads[task_channel(task)]} == {"progress"}
    finally:
        for each in (api, worker):
            each.ensure_stopped()
