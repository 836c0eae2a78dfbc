"""Several hosts on one PostgreSQL and one DATA_DIR, each a real server with its decoder and
model: one queue, any host answers for any task, a host killed mid-decode loses nothing, a
database outage is 503s and then nothing lost, and hosts starting together migrate once."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.backlog import add_backlog
from tests.support.postgres_cluster import PostgresCluster
from tests.support.server import STEP_DEADLINE_S, RunningServer, iso_seconds, start_server, wait_for_task
from tests.support.speech import PARAGRAPHS, speak, word_error_rate
from tests.system.test_durability import upload, wait_for_status
from whisper_api.jobs.job import Job
from whisper_api.jobs.store.postgres import SCHEMA_VERSION, PostgresJobStore
from whisper_api.jobs.tracker.claims import MISSING_UPLOAD

pytestmark = pytest.mark.slow

# Short leases, so that a dead host's job moves on soon; the rule is the same at 30 s.
LEASE_S = 6
# How late a surviving host may notice a lapsed lease: it looks at the queue every third of a
# lease, and a busy machine may be a few seconds late.
NOTICE_SLACK_S = LEASE_S / 3 + 15
DECODING = re.compile(r"\] decoding task ([0-9a-f]{8})")


def start_host(
    home: Path, model_dir: Path, database_url: str, data_dir: Path, **settings: str
) -> RunningServer:
    return start_server(
        home,
        model_dir,
        DATABASE_URL=database_url,
        DATA_DIR=str(data_dir),
        LEASE_S=str(LEASE_S),
        DECODERS="1",
        CPU_THREADS="1",
        ENGINE="faster-whisper",
        **settings,
    )


def decoded_on(hosts: list[RunningServer], tasks: list[str]) -> Counter[str]:
    """How often each task began decoding, over every host's log."""
    by_prefix = {task[:8]: task for task in tasks}
    found = (m[1] for host in hosts for m in DECODING.finditer(host.log_file.read_text()))
    return Counter(by_prefix[prefix] for prefix in found if prefix in by_prefix)


def events_of(client: httpx.Client, task_id: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    name = ""
    with client.stream("GET", f"/api/v1/tasks/{task_id}/events", timeout=STEP_DEADLINE_S) as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    return events


@contextlib.contextmanager
def two_hosts(
    tmp_path: Path, model_dir: Path, database_url: str, **settings: str
) -> Iterator[tuple[list[RunningServer], list[httpx.Client]]]:
    """Hosts a and b on one database and one DATA_DIR, with a client of each."""
    hosts = [
        start_host(tmp_path / name, model_dir, database_url, tmp_path / "shared-data", **settings)
        for name in "ab"
    ]
    clients = [host.client() for host in hosts]
    try:
        yield hosts, clients
    finally:
        for client in clients:
            client.close()
        for host in hosts:
            host.stop()


def test_hosts_share_one_queue_and_answer_for_each_others_tasks(
    tmp_path: Path, model_dir: Path, speech_dir: Path, database_url: str
) -> None:
    with two_hosts(tmp_path, model_dir, database_url) as (hosts, clients):
        # Two paragraphs uploaded to each host, alternately.
        tasks = [upload(clients[i % 2], speech_dir / f"paragraph{i}.wav") for i in range(len(PARAGRAPHS))]
        results = [wait_for_task(clients[(i + 1) % 2], task) for i, task in enumerate(tasks)]
        for text, result in zip(PARAGRAPHS, results, strict=True):
            assert result["status"] == "finished", result
            assert word_error_rate(text, result["transcript"]) <= 0.10
        # Every host answers for every task: status, result and SRT.
        for client in clients:
            listed = {
                task["task_id"] for task in client.get("/api/v1/tasks", params={"limit": 50}).json()["tasks"]
            }
            assert set(tasks) <= listed
            for task, result in zip(tasks, results, strict=True):
                assert (
                    client.get("/api/v1/status", params={"task_id": task}).json()["transcript"]
                    == result["transcript"]
                )
                assert client.get("/api/v1/srt", params={"task_id": task}).text.startswith("1\n00:00:")
                json_result = client.get(f"/api/v1/tasks/{task}/result").json()
                assert json_result["text"].strip() == result["transcript"].strip()
        # Each task was decoded exactly once, by one of the hosts.
        assert decoded_on(hosts, tasks) == Counter(tasks)

        # Watchers on both hosts follow a task to its end, progress included: one hears it from
        # its own decoder, the other from the host that decodes it.
        long_audio = speak(" ".join(PARAGRAPHS), tmp_path / "long.wav")
        watched_task = upload(clients[0], long_audio)
        with concurrent.futures.ThreadPoolExecutor(2) as watching:
            streams = list(watching.map(lambda client: events_of(client, watched_task), clients))
        for events in streams:
            assert [data["status"] for name, data in events if name == "status"][-1] == "finished"
            assert word_error_rate(" ".join(PARAGRAPHS), events[-1][1]["transcript"]) <= 0.10
            progress = [data["progress"] for name, data in events if name == "progress"]
            assert progress and progress == sorted(progress)

        # A task decoding on one host is cancelled through the other.
        long_task = upload(clients[0], long_audio)
        wait_for_status(clients[0], long_task, "processing")
        holder = next(i for i, client in enumerate(clients) if _holds(client, long_task))
        other = clients[1 - holder]
        cancelled = other.delete(f"/api/v1/tasks/{long_task}")
        assert (cancelled.status_code, cancelled.json()["status"]) == (202, "cancelling")
        deadline = time.monotonic() + STEP_DEADLINE_S
        while other.get(f"/api/v1/tasks/{long_task}").status_code != 404:
            assert time.monotonic() < deadline, "the cancelled task was never removed"
            time.sleep(0.2)
        while _holds(clients[holder], long_task):
            assert time.monotonic() < deadline, "the holder's decoder never let the task go"
            time.sleep(0.2)


def test_positions_and_the_queue_limit_are_the_clusters(
    tmp_path: Path, model_dir: Path, speech_dir: Path, database_url: str
) -> None:
    with two_hosts(tmp_path, model_dir, database_url, MAX_TASK_QUEUE_SIZE="3") as (_hosts, clients):
        # Both decoders busy with a long recording, so that what comes next waits.
        very_long = speak(" ".join(PARAGRAPHS * 2), tmp_path / "very-long.wav")
        busy = [upload(client, very_long) for client in clients]
        for task in busy:
            wait_for_status(clients[0], task, "processing")
        waiting = [upload(clients[n % 2], speech_dir / f"paragraph{n}.wav") for n in range(3)]

        def positions(client: httpx.Client) -> list[int | None]:
            return [
                client.get("/api/v1/status", params={"task_id": task}).json()["position_in_queue"]
                for task in waiting
            ]

        # Each host places every waiting task in the one queue, whichever host took it.
        deadline = time.monotonic() + STEP_DEADLINE_S
        while any(positions(client) != [0, 1, 2] for client in clients):
            assert time.monotonic() < deadline, [positions(client) for client in clients]
            time.sleep(0.2)
        # Three wait in the cluster: either host refuses a fourth.
        for client in clients:
            with (speech_dir / "paragraph3.wav").open("rb") as audio:
                refused = client.post("/api/v1/transcribe", files={"file": ("p.wav", audio)})
            assert refused.status_code == 429, refused.text
        assert all(wait_for_task(clients[0], task)["status"] == "finished" for task in [*busy, *waiting])


def test_a_host_killed_mid_decode_hands_its_task_to_another(
    tmp_path: Path, model_dir: Path, database_url: str
) -> None:
    data = tmp_path / "shared-data"
    long_audio = speak(" ".join(PARAGRAPHS), tmp_path / "long.wav")
    doomed = start_host(tmp_path / "a", model_dir, database_url, data)
    with doomed.client() as client:
        task = upload(client, long_audio)
        wait_for_status(client, task, "processing")
    survivor = start_host(tmp_path / "b", model_dir, database_url, data)
    doomed.kill_all()
    killed_at = time.time()
    try:
        with survivor.client() as client:
            result = wait_for_task(client, task)
            # The dead host's claim was the one in the database: a cancel on the survivor would
            # have had no decoder to stop, so the survivor must have claimed it itself.
            assert decoded_on([survivor], [task]) == Counter({task: 1})
    finally:
        survivor.stop()
    assert result["status"] == "finished", result
    assert word_error_rate(" ".join(PARAGRAPHS), result["transcript"]) <= 0.10
    taken_over_after = iso_seconds(result["time_processing_started"]) - killed_at
    assert taken_over_after <= LEASE_S + NOTICE_SLACK_S, taken_over_after
    assert decoded_on([doomed, survivor], [task]) == Counter({task: 2})


def test_a_database_outage_is_503_and_then_nothing_is_lost(
    tmp_path: Path, model_dir: Path, speech_dir: Path
) -> None:
    cluster = PostgresCluster()
    cluster.start()
    try:
        url = cluster.create_database("outage")
        # Deduplication on, as by default: an upload asks the store for its twin first.
        host = start_host(tmp_path / "a", model_dir, url, tmp_path / "data", DEDUPLICATE_UPLOADS="1")
        try:
            with host.client() as client:
                before = [upload(client, speech_dir / f"paragraph{i}.wav") for i in range(2)]
                wait_for_status(client, before[0], "processing")
                cluster.stop()
                stopped = time.monotonic()
                for _ in range(4):
                    with (speech_dir / "paragraph2.wav").open("rb") as audio:
                        refused = client.post("/api/v1/transcribe", files={"file": ("p.wav", audio)})
                    assert refused.status_code == 503, refused.text
                    assert (
                        refused.headers["retry-after"]
                        and refused.json()["error"]["code"] == "storage_unavailable"
                    )
                # The refused uploads left no file: only the two accepted tasks' are there.
                kept = {path.name[:32] for path in (tmp_path / "data" / "uploads").iterdir()}
                assert kept <= set(before), kept
                assert client.get("/readyz").status_code == 503
                # Down for longer than a lease, until the decode in hand has finished: its
                # result has to wait for the database, and the host's lease runs out meanwhile.
                deadline = stopped + STEP_DEADLINE_S
                while time.monotonic() - stopped < LEASE_S + 1 or _busy(client):
                    assert time.monotonic() < deadline, "the decode in hand never finished"
                    time.sleep(0.2)
                cluster.start()
                after = _upload_when_back(client, speech_dir / "paragraph2.wav")
                results = [wait_for_task(client, task) for task in [*before, after]]
        finally:
            host.stop()
    finally:
        cluster.remove()
    for text, result in zip(PARAGRAPHS, results, strict=False):
        assert result["status"] == "finished", result
        assert word_error_rate(text, result["transcript"]) <= 0.10
    assert list((tmp_path / "data" / "uploads").iterdir()) == []


def test_hosts_starting_together_migrate_once(tmp_path: Path, model_dir: Path, database_url: str) -> None:
    data = tmp_path / "shared-data"
    with concurrent.futures.ThreadPoolExecutor(2) as starting:
        hosts = list(
            starting.map(lambda name: start_host(tmp_path / name, model_dir, database_url, data), "ab")
        )
    for host in hosts:
        host.stop()
    upgrades = sum(host.log_file.read_text().count("upgrading the job database") for host in hosts)
    assert upgrades == SCHEMA_VERSION
    with psycopg.connect(database_url) as db:
        versions = [version for (version,) in db.execute("SELECT version FROM schema_migrations").fetchall()]
    assert sorted(versions) == list(range(1, SCHEMA_VERSION + 1))


def test_a_host_without_the_shared_data_dir_fails_the_job_it_claims_with_a_reason(
    tmp_path: Path, model_dir: Path, database_url: str
) -> None:
    elsewhere = tmp_path / "another-hosts-data" / "uploads"
    elsewhere.mkdir(parents=True)
    lost = Job("a" * 32, "transcribe", None, elsewhere / ("a" * 32), "talk.wav", time.time())

    async def record() -> None:
        store = PostgresJobStore(database_url, host="uploader", keep_results_s=60, refresh_on_use=False)
        await store.open()
        await store.add(lost)
        await store.close()

    asyncio.run(record())
    host = start_host(tmp_path / "b", model_dir, database_url, tmp_path / "its-own-data")
    try:
        with host.client() as client:
            result = wait_for_task(client, lost.task_id)
    finally:
        host.stop()
    assert (result["status"], result["error"]) == ("failed", MISSING_UPLOAD)


def _busy(client: httpx.Client) -> bool:
    return bool(client.get("/api/v1/decoder_status").json()["currently_busy"])


def _holds(client: httpx.Client, task_id: str) -> bool:
    decoders = client.get("/api/v1/decoder_status").json()["decoders"]
    return any(decoder["task_id"] == task_id for decoder in decoders)


def _upload_when_back(client: httpx.Client, path: Path) -> str:
    """Upload once the host takes uploads again (its next call to the database reconnects)."""
    deadline = time.monotonic() + STEP_DEADLINE_S
    while True:
        with path.open("rb") as audio:
            response = client.post("/api/v1/transcribe", files={"file": (path.name, audio)})
        if response.status_code == 200:
            return str(response.json()["task_id"])
        assert response.status_code == 503 and time.monotonic() < deadline, response.text
        time.sleep(0.5)


# Every row of the job tables that a statement read: table rows scanned and index entries.
JOB_TABLES = "relname IN ('jobs', 'queue_blocks')"
ROWS_READ = f"""
SELECT (SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_user_tables WHERE {JOB_TABLES})
     + (SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes WHERE {JOB_TABLES})
"""
OTHER_CONNECTIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


def rows_read(database_url: str) -> int:
    """The rows of the job tables read so far, once no other connection to the database is left:
    a connection's counts reach the statistics when it closes."""
    deadline = time.monotonic() + STEP_DEADLINE_S
    with psycopg.connect(database_url, autocommit=True) as db:
        while (row := db.execute(OTHER_CONNECTIONS).fetchone()) is not None and row[0]:
            assert time.monotonic() < deadline, "a connection to the database stayed open"
            time.sleep(0.1)
        counted = db.execute(ROWS_READ).fetchone()
    assert counted is not None
    return int(counted[0])


def resident_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match is not None
    return int(match[1]) / 1024


def test_one_more_task_costs_the_same_behind_ten_thousand_waiting(
    tmp_path: Path, model_dir: Path, speech_dir: Path, database_url: str
) -> None:
    """A host holds no copy of the queue: behind a backlog of 10,000 waiting jobs, one short task
    (upload, claim, decode, status polls) reads about the rows it reads in an empty queue, and
    the host's memory is what it is there."""
    audio = speech_dir / "paragraph0.wav"

    def one_task(name: str) -> tuple[int, float, dict[str, Any]]:
        before = rows_read(database_url)
        host = start_host(
            tmp_path / name, model_dir, database_url, tmp_path / "shared-data", MAX_TASK_QUEUE_SIZE="20000"
        )
        try:
            with host.client() as client:
                result = wait_for_task(client, upload(client, audio))
                resident = resident_mb(host.process.pid)
        finally:
            host.stop()
        return rows_read(database_url) - before, resident, result

    one_task("migrating")  # the first start creates the tables: not part of either count
    empty_rows, empty_mb, empty_result = one_task("empty")
    add_backlog(database_url, 10_000, held=True)
    backlog_rows, backlog_mb, backlog_result = one_task("backlog")
    assert empty_result["status"] == backlog_result["status"] == "finished"
    assert backlog_result["transcript"] == empty_result["transcript"]
    print(f"rows read: {empty_rows} in an empty queue, {backlog_rows} behind 10,000")
    print(f"host RSS: {empty_mb:.0f} MB in an empty queue, {backlog_mb:.0f} MB behind 10,000")
    # Reading the queue once would be 10,000 rows; the host used to, after every queue message.
    # What more there is: the task's place, a few dozen rows at each status poll while it waits.
    assert backlog_rows - empty_rows < 1_000
    assert backlog_mb - empty_mb < 30
