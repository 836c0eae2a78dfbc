"""Scaling out: the throughput of one queue of short tasks with one and two decoders on one host,
and with one and two hosts on one PostgreSQL, as ratios to one decoder in the same run; and what
a status read costs on PostgreSQL against SQLite. The database is a throwaway cluster started
as the tests start theirs (tests/support/postgres_cluster.py), on this machine."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.support.postgres_cluster import PostgresCluster
from tests.support.server import start_server

from bench.report import percentile
from bench.service import upload, wait_until_ended

# As the server runs faster-whisper in the engine table's fastest setting on small models.
HOST_SETTINGS = {"ENGINE": "faster-whisper", "CPU_THREADS": "1"}


@dataclass(frozen=True)
class Layout:
    name: str
    seconds: float
    failures: int


@dataclass(frozen=True)
class Scaling:
    tasks: int
    layouts: tuple[Layout, ...]
    # Milliseconds of status reads of a finished task: (SQLite, PostgreSQL) samples.
    status_sqlite_ms: tuple[float, ...]
    status_postgres_ms: tuple[float, ...]


def measure(work: Path, model_dir: Path, audio: Path, tasks: int, reads: int) -> Scaling:
    cluster = PostgresCluster()
    cluster.start()
    try:
        layouts = [
            _layout("1 decoder (SQLite)", work / "one", model_dir, audio, tasks, [{"DECODERS": "1"}]),
            _layout("2 decoders (SQLite)", work / "two", model_dir, audio, tasks, [{"DECODERS": "2"}]),
        ]
        for hosts in (1, 2):
            url = cluster.create_database(f"bench_{hosts}")
            shared = {"DECODERS": "1", "DATABASE_URL": url, "DATA_DIR": str(work / f"hosts{hosts}-data")}
            name = f"{hosts} host{'s' if hosts > 1 else ''} of 1 decoder (PostgreSQL)"
            layouts.append(_layout(name, work / f"hosts{hosts}", model_dir, audio, tasks, [shared] * hosts))
        sqlite_ms, postgres_ms = _status_reads(
            work, model_dir, audio, cluster.create_database("reads"), reads
        )
    finally:
        cluster.remove()
    return Scaling(tasks, tuple(layouts), sqlite_ms, postgres_ms)


def _layout(
    name: str, home: Path, model_dir: Path, audio: Path, tasks: int, hosts: list[dict[str, str]]
) -> Layout:
    servers = [
        start_server(home / f"host{index}", model_dir, **HOST_SETTINGS, **settings)
        for index, settings in enumerate(hosts)
    ]
    try:
        clients = [server.client(timeout=60) for server in servers]
        # Warm: every decoder has decoded once before the clock starts.
        for client in clients:
            wait_until_ended(client, upload(client, audio))
        started = time.perf_counter()
        # Uploads go to the hosts in turn, as a load balancer would send them.
        task_ids = [
            (clients[n % len(clients)], upload(clients[n % len(clients)], audio)) for n in range(tasks)
        ]
        ended = [wait_until_ended(client, task_id) for client, task_id in task_ids]
        seconds = time.perf_counter() - started
        for client in clients:
            client.close()
    finally:
        for server in servers:
            server.stop()
    failures = sum(body["status"] != "finished" for body in ended)
    print(f"{name}: {tasks} tasks in {seconds:.1f} s", flush=True)
    return Layout(name, seconds, failures)


def _status_reads(
    work: Path, model_dir: Path, audio: Path, url: str, reads: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Reads of a finished task's status from two servers, one on each store, in turns."""
    embedded = start_server(work / "reads-sqlite", model_dir, **HOST_SETTINGS)
    shared = start_server(work / "reads-pg", model_dir, **HOST_SETTINGS, DATABASE_URL=url)
    try:
        with embedded.client() as on_sqlite, shared.client() as on_postgres:
            finished = [(client, upload(client, audio)) for client in (on_sqlite, on_postgres)]
            for client, task_id in finished:
                wait_until_ended(client, task_id)
            samples: tuple[list[float], list[float]] = ([], [])
            for _ in range(reads):
                for (client, task_id), times in zip(finished, samples, strict=True):
                    times.append(_read_ms(client, task_id))
    finally:
        embedded.stop()
        shared.stop()
    return tuple(samples[0]), tuple(samples[1])


def _read_ms(client: httpx.Client, task_id: str) -> float:
    started = time.perf_counter()
    client.get("/api/v1/status", params={"task_id": task_id}).raise_for_status()
    return (time.perf_counter() - started) * 1000


def section(scaling: Scaling) -> list[str]:
    """The report's "Scaling out" section, in Markdown lines."""
    base = scaling.layouts[0].seconds
    rows = [
        f"| {layout.name} | {layout.seconds:.1f} | {scaling.tasks / layout.seconds:.2f} | "
        f"{base / layout.seconds:.2f} | {layout.failures} |"
        for layout in scaling.layouts
    ]
    reads = [
        f"| {store} | {len(samples)} | {statistics.median(samples):.2f} | "
        f"{percentile(list(samples), 0.9):.2f} |"
        for store, samples in (
            ("SQLite", scaling.status_sqlite_ms),
            ("PostgreSQL", scaling.status_postgres_ms),
        )
    ]
    return [
        "## Scaling out",
        "",
        f"{scaling.tasks} short tasks queued at once, each decoder faster-whisper on one thread, from the "
        "first upload until the last task ended, after every decoder decoded one task. The ratio is the "
        "throughput against one decoder in this run. The hosts run on this one machine, with the "
        "database: two one-thread decoders use two of its CPUs whether they belong to one host or to "
        "two; hosts on separate machines each bring their own.",
        "",
        "| layout | seconds | tasks/s | ratio to 1 decoder | failed |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "A status read of a finished task, in milliseconds, from one client over loopback HTTP:",
        "",
        "| store | reads | p50 | p90 |",
        "|---|---|---|---|",
        *reads,
        "",
    ]
