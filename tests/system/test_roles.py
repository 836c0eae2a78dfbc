"""API hosts apart from workers (ROLE=api, ROLE=worker) on one real PostgreSQL, each a real
server with a DATA_DIR of its own (MEDIA_STORE=database: they share nothing but the database):
the API host runs no decoder and takes the uploads, the workers decode them and serve
only their probes and metrics; a worker killed mid-decode leaves the other to finish, one that
gets SIGTERM drains (it finishes what it holds and takes nothing more), and an API host with no
worker alive still takes uploads and says so in /readyz."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.server import STEP_DEADLINE_S, RunningServer, wait_for_task
from tests.support.speech import PARAGRAPHS, speak, word_error_rate
from tests.system.test_durability import upload, wait_for_status
from tests.system.test_hostile_input import uploads_left
from tests.system.test_hosts import LEASE_S, NOTICE_SLACK_S, decoded_on, start_host
from tests.system.test_media_store import stored
from tests.system.test_openapi_live import Checker

pytestmark = pytest.mark.slow


def descendants(pid: int) -> set[int]:
    """Every process below `pid`: the decoders and what they started."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def kind_of(pid: int) -> str:
    """A process below a host: an upload checker, multiprocessing's resource tracker (which the
    first spawned process brings), or anything else (a decoder)."""
    if Path(f"/proc/{pid}/comm").read_text().strip() == "upload-check":
        return "checker"
    if b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes():
        return "resource tracker"
    return "other"


def kill_dead(host: RunningServer) -> None:
    """SIGKILL the host and everything below it at once, as a power cut would."""
    for pid in [host.process.pid, *descendants(host.process.pid)]:
        os.kill(pid, signal.SIGKILL)
    host.process.wait(timeout=30)


def holder(workers: list[RunningServer], task: str) -> RunningServer:
    """The worker whose decoder began the task last."""
    deadline = time.monotonic() + STEP_DEADLINE_S
    while not (holding := [worker for worker in workers if decoded_on([worker], [task])]):
        assert time.monotonic() < deadline, "no worker began the task"
        time.sleep(0.2)
    return holding[-1]


def test_api_hosts_and_workers_apart(
    tmp_path: Path, model_dir: Path, speech_dir: Path, database_url: str
) -> None:
    def host(name: str, role: str, **settings: str) -> RunningServer:
        """A host with a DATA_DIR of its own: the uploads wait in the database."""
        data = tmp_path / name / "data"
        return start_host(
            tmp_path / name, model_dir, database_url, data, ROLE=role, MEDIA_STORE="database", **settings
        )

    def worker(name: str, **settings: str) -> RunningServer:
        return host(name, "worker", **settings)

    api = host("api", "api")
    workers = [worker("w1", DRAIN_S="300"), worker("w2", DRAIN_S="300")]
    long_audio = speak(" ".join(PARAGRAPHS), tmp_path / "long.wav")
    try:
        with api.client() as client:
            # The API host runs no decoder process (only its upload checkers), and says so as its
            # document says; a worker serves no public route.
            documented = Checker(client.get("/openapi.json").json())
            below = sorted(kind_of(pid) for pid in descendants(api.process.pid))
            assert below == ["checker", "checker", "resource tracker"]
            status = documented.check("/api/v1/decoder_status", "get", client.get("/api/v1/decoder_status"))
            assert status.json()["decoders"] == []
            for each in workers:
                assert httpx.get(f"{each.url}/api/v1/status", params={"task_id": "0" * 32}).status_code == 404
                deadline = time.monotonic() + STEP_DEADLINE_S
                while (ready := httpx.get(f"{each.url}/readyz")).status_code != 200:
                    assert time.monotonic() < deadline, ready.text  # the model loads first
                    time.sleep(0.2)
                assert "whisper_api_workers_alive" in httpx.get(f"{each.url}/metrics").text

            # Uploads to the API host are decoded by the workers, once it has heard of them.
            deadline = time.monotonic() + STEP_DEADLINE_S
            while "concern" in (ready := client.get("/readyz")).json():
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.2)
            tasks = [upload(client, speech_dir / f"paragraph{n}.wav") for n in range(2)]
            for text, task in zip(PARAGRAPHS, tasks, strict=False):
                result = wait_for_task(client, task)
                assert result["status"] == "finished" and word_error_rate(text, result["transcript"]) <= 0.10
            assert decoded_on(workers, tasks) == Counter(tasks)
            metrics = client.get("/metrics").text
            assert "whisper_api_workers_alive 2.0" in metrics, metrics

            # SIGTERM drains a worker: it finishes the task it holds, takes nothing more, exits.
            drained_task = upload(client, long_audio)
            wait_for_status(client, drained_task, "processing")
            draining = holder(workers, drained_task)
            other = next(each for each in workers if each is not draining)
            draining.process.send_signal(signal.SIGTERM)
            later = upload(client, speech_dir / "paragraph2.wav")
            assert draining.process.wait(timeout=STEP_DEADLINE_S) == 0
            assert wait_for_task(client, drained_task)["status"] == "finished"
            assert wait_for_task(client, later)["status"] == "finished"
            assert decoded_on(workers, [drained_task, later]) == Counter([drained_task, later])
            assert decoded_on([other], [later]) == Counter([later])

            # kill -9 of a worker mid-decode: the other finishes the task.
            workers.append(worker("w3"))
            alive = [other, workers[-1]]
            doomed_task = upload(client, long_audio)
            wait_for_status(client, doomed_task, "processing")
            doomed = holder(alive, doomed_task)
            kill_dead(doomed)
            result = wait_for_task(client, doomed_task, deadline_s=LEASE_S + NOTICE_SLACK_S + STEP_DEADLINE_S)
            assert result["status"] == "finished", result
            assert word_error_rate(" ".join(PARAGRAPHS), result["transcript"]) <= 0.10
            survivor = next(each for each in alive if each is not doomed)
            assert decoded_on([survivor], [doomed_task]) == Counter([doomed_task])

            # No worker alive: the API host still takes uploads, which wait, and says so.
            survivor.stop()
            deadline = time.monotonic() + LEASE_S + NOTICE_SLACK_S
            while "concern" not in (ready := client.get("/readyz")).json():
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.2)
            assert ready.status_code == 200 and "no worker is alive" in ready.json()["concern"]
            documented.check("/readyz", "get", ready)
            waiting = upload(client, speech_dir / "paragraph3.wav")
            assert client.get("/api/v1/status", params={"task_id": waiting}).json()["status"] == "pending"
        # Each upload went with its task: the waiting one's is all the database holds, and the
        # workers that stopped kept no copy.
        assert stored(database_url)[0] == 1
        assert [uploads_left(each) for each in (api, draining, survivor)] == [[], [], []]
    finally:
        for each in [api, *workers]:
            each.ensure_stopped()
