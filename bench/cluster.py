"""Scaling out to many hosts: what one task costs the cluster as hosts and the queue grow.

Real front ends, each with its real decoder process, share one real PostgreSQL on this machine;
the decoders run the stand-in engine (ENGINE=bench-stand-in: no model, a fixed STAND_IN_TASK_S
per task), so that this machine's CPUs serve the front ends and the database, not decoding. The
backlog is jobs claimed by a host that does not exist, under leases that outlast the run: they
wait ahead of every measured task, in the queue's counts and every task's place, and nobody
decodes them. For each number of hosts (a fresh database each) and each backlog, tasks are
uploaded to the hosts in turn while one client polls their status, until all have ended.

- throughput, two ways: the tasks over the time from the first start to the last end, against
  every decoder busy all along (hosts / STAND_IN_TASK_S); and the time from the first upload to
  the last end against the same for a cluster that starts each task the moment it is uploaded
  and a decoder is free (`ideal_span_s`): on one machine the uploads themselves take CPU, and
  32 decoders empty the queue faster than its clients fill it, which the first measure blames on
  the cluster and the second does not;
- rows read (table rows scanned and index entries, pg_stat_user_tables and _indexes),
  statements (transactions, pg_stat_database) and NOTIFY messages (heard on the channel) per
  task, counted from before the uploads until every host's statistics have reached the
  database after the last end, so the hosts' regular looks meanwhile are in them;
- the front ends' memory (RSS) after the run, and the p99 of uploads and status reads;
- where the CPU time went, by kind of process (bench.cpu), and how busy the machine was.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import heapq
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from tests.support.backlog import add_backlog
from tests.support.notifications import Heard
from tests.support.postgres_cluster import PostgresCluster
from tests.support.server import RunningServer, iso_seconds, start_server

from bench import cpu
from bench.report import percentile, table, target_row
from bench.service import rss_mib, upload
from decoder.engines.stand_in import STAND_IN_TASK_S
from decoder.wire.choices import STAND_IN_ENGINE
from whisper_api.jobs.store.postgres.connection import CHANNEL

HOST_SETTINGS = {
    "ENGINE": STAND_IN_ENGINE,
    "DECODERS": "1",
    # The backlog counts against the queue limit like any waiting job.
    "MAX_TASK_QUEUE_SIZE": "1000000",
    "LOAD_MODEL_ON_STARTUP": "1",
}
# Hosts stopped at once: more would only queue for this machine's CPUs.
STOPPING_AT_ONCE = 4
# Status reads of the tasks in flight, one client, this far apart.
POLL_INTERVAL_S = 0.05
# The rows each table's scans and each index's scans read.
ROWS_READ = """
SELECT relname, seq_tup_read FROM pg_stat_user_tables
UNION ALL SELECT indexrelname, idx_tup_read FROM pg_stat_user_indexes
"""
STATEMENTS = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"


@dataclass(frozen=True)
class ClusterRun:
    hosts: int
    backlog: int
    tasks: int
    seconds: float
    # From the first upload to the last end, as it was and at best for those uploads.
    span_s: float
    ideal_span_s: float
    rows_per_task: float
    statements_per_task: float
    notifications_per_task: float
    rss_mib: float
    upload_p99_ms: float
    status_p99_ms: float
    failed: int
    cpu: cpu.CpuUse

    @property
    def throughput_ratio(self) -> float:
        """Tasks per second against every decoder busy all along."""
        return self.tasks / self.seconds / (self.hosts / STAND_IN_TASK_S)

    @property
    def arrivals_ratio(self) -> float:
        """Tasks per second against a cluster that loses no time between uploads and decoders."""
        return self.ideal_span_s / self.span_s


def ideal_span_s(uploaded: list[float], decoders: int) -> float:
    """From the first upload to the last end, were each task started as soon as it was uploaded
    and a decoder was free, and decoded in STAND_IN_TASK_S."""
    first = min(uploaded)
    free = [first] * decoders
    for at in sorted(uploaded):
        heapq.heappush(free, max(at, heapq.heappop(free)) + STAND_IN_TASK_S)
    return max(free) - first


def measure(
    work: Path,
    audio: Path,
    host_counts: tuple[int, ...],
    backlogs: tuple[int, ...],
    tasks: tuple[int, int],
    settle_s: float,
) -> list[ClusterRun]:
    """`tasks`: per host, and at least; `settle_s`: how long the hosts' statistics may take to
    reach the database (an idle connection reports within ten seconds)."""
    per_host, at_least = tasks
    cluster = PostgresCluster()
    cluster.start()
    postmaster = cpu.postmaster_pid(cluster.data)
    runs: list[ClusterRun] = []
    try:
        for hosts in host_counts:
            url = cluster.create_database(f"cluster_{hosts}")
            with _hosts(work / f"hosts{hosts}", url, hosts) as servers:
                held = 0
                for backlog in backlogs:
                    add_backlog(url, backlog - held, held=True)
                    held = backlog
                    count = max(at_least, hosts * per_host)
                    runs.append(_run(servers, url, postmaster, backlog, count, audio, settle_s))
                    run = runs[-1]
                    print(
                        f"{hosts} hosts, backlog {backlog}: {run.tasks} tasks in {run.seconds:.1f} s "
                        f"({run.throughput_ratio:.2f} of all busy, {run.arrivals_ratio:.2f} of ideal for "
                        f"the uploads), {run.rows_per_task:.0f} rows per task, machine "
                        f"{run.cpu.machine_busy:.0%} busy",
                        flush=True,
                    )
    finally:
        cluster.remove()
    return runs


@contextlib.contextmanager
def _hosts(home: Path, url: str, count: int) -> Iterator[list[RunningServer]]:
    def start(index: int) -> RunningServer:
        return start_server(home / f"host{index}", home, DATABASE_URL=url, **HOST_SETTINGS)

    # One after the other, from this thread: a server ends with the thread that started it.
    servers: list[RunningServer] = []
    try:
        for index in range(count):
            servers.append(start(index))
        yield servers
    finally:
        with concurrent.futures.ThreadPoolExecutor(STOPPING_AT_ONCE) as stopping:
            list(stopping.map(lambda server: server.stop(), servers))


def _run(
    servers: list[RunningServer],
    url: str,
    postmaster: int,
    backlog: int,
    tasks: int,
    audio: Path,
    settle_s: float,
) -> ClusterRun:
    time.sleep(settle_s)
    rows_before, statements_before = _counters(url)
    front_ends = [server.process.pid for server in servers]
    cpu_before = cpu.sample(front_ends, postmaster)
    clients = [server.client(timeout=120) for server in servers]
    upload_ms: list[float] = []

    def timed_upload(n: int) -> tuple[int, str]:
        started = time.perf_counter()
        task_id = upload(clients[n % len(clients)], audio)
        upload_ms.append((time.perf_counter() - started) * 1000)
        return n, task_id

    with Heard(url, CHANNEL).hearing() as heard:
        with concurrent.futures.ThreadPoolExecutor(min(8, tasks)) as uploading:
            uploaded = list(uploading.map(timed_upload, range(tasks)))
        ended, status_ms = _poll_until_ended(clients, uploaded)
        cpu_use = cpu.between(cpu_before, cpu.sample(front_ends, postmaster))
        time.sleep(settle_s)
    rows_after, statements_after = _counters(url)
    for client in clients:
        client.close()
    readers = sorted(rows_after, key=lambda name: rows_before.get(name, 0) - rows_after[name])[:3]
    print(
        "  most rows read by: "
        + ", ".join(f"{name} {rows_after[name] - rows_before.get(name, 0)}" for name in readers),
        flush=True,
    )
    started = min(
        iso_seconds(body["time_processing_started"]) for body in ended if body["time_processing_started"]
    )
    finished = max(
        iso_seconds(body["time_processing_finished"]) for body in ended if body["time_processing_finished"]
    )
    uploaded_at = [iso_seconds(body["time_uploaded"]) for body in ended]
    return ClusterRun(
        hosts=len(servers),
        backlog=backlog,
        tasks=tasks,
        seconds=finished - started,
        span_s=finished - min(uploaded_at),
        ideal_span_s=ideal_span_s(uploaded_at, len(servers)),
        rows_per_task=(sum(rows_after.values()) - sum(rows_before.values())) / tasks,
        statements_per_task=(statements_after - statements_before) / tasks,
        notifications_per_task=len(heard.payloads[CHANNEL]) / tasks,
        rss_mib=statistics.mean(rss_mib(server.process.pid) for server in servers),
        upload_p99_ms=percentile(upload_ms, 0.99),
        status_p99_ms=percentile(status_ms, 0.99),
        failed=sum(body["status"] != "finished" for body in ended),
        cpu=cpu_use,
    )


def _poll_until_ended(
    clients: list[httpx.Client], uploaded: list[tuple[int, str]]
) -> tuple[list[dict[str, Any]], list[float]]:
    """Read each unfinished task's status, in turn, from the hosts in turn, until all ended."""
    waiting = dict(uploaded)
    ended: list[dict[str, Any]] = []
    status_ms: list[float] = []
    turn = 0
    while waiting:
        for n, task_id in list(waiting.items()):
            turn += 1
            started = time.perf_counter()
            body = clients[turn % len(clients)].get("/api/v1/status", params={"task_id": task_id}).json()
            status_ms.append((time.perf_counter() - started) * 1000)
            if body["status"] in ("finished", "failed"):
                ended.append(body)
                del waiting[n]
            time.sleep(POLL_INTERVAL_S)
    return ended, status_ms


def _counters(url: str) -> tuple[dict[str, int], int]:
    """The rows read so far, by table and index, and the statements run."""
    with psycopg.connect(url, autocommit=True) as db:
        rows = {str(name): int(count or 0) for name, count in db.execute(ROWS_READ).fetchall()}
        statements = db.execute(STATEMENTS).fetchone()
    assert statements is not None
    return rows, int(statements[0])


def section(runs: list[ClusterRun]) -> list[str]:
    """The "Many hosts on one queue" part of the report's "Scaling out" section."""
    rows = [
        (
            str(run.hosts),
            f"{run.backlog:,}",
            str(run.tasks),
            f"{run.throughput_ratio:.2f}",
            f"{run.arrivals_ratio:.2f}",
            f"{run.rows_per_task:.0f}",
            f"{run.statements_per_task:.1f}",
            f"{run.notifications_per_task:.1f}",
            f"{run.rss_mib:.0f}",
            f"{run.upload_p99_ms:.0f}",
            f"{run.status_p99_ms:.1f}",
            str(run.failed),
        )
        for run in runs
    ]
    cpu_rows = [
        (
            str(run.hosts),
            f"{run.backlog:,}",
            *(f"{run.cpu.seconds[group] / run.tasks:.3f}" for group in cpu.GROUPS),
            f"{run.cpu.machine_busy:.0%}",
        )
        for run in runs
    ]
    most = max(run.hosts for run in runs)
    at_most = [run for run in runs if run.hosts == most]
    empty, longest = min(at_most, key=lambda run: run.backlog), max(at_most, key=lambda run: run.backlog)
    slowest = min(at_most, key=lambda run: run.arrivals_ratio)
    targets = [
        target_row(
            f"rows read per task, backlog {longest.backlog:,} against {empty.backlog:,}",
            "within 3x",
            f"{longest.rows_per_task:.0f} against {empty.rows_per_task:.0f}",
            longest.rows_per_task <= 3 * empty.rows_per_task,
        ),
        target_row(
            f"front end RSS, backlog {longest.backlog:,} against {empty.backlog:,}",
            "within 30 MiB",
            f"{longest.rss_mib:.0f} against {empty.rss_mib:.0f} MiB",
            longest.rss_mib - empty.rss_mib <= 30,
        ),
        target_row(
            f"throughput of {most} hosts against the ideal for the uploads, lowest of the backlogs",
            "≥ 0.9 of ideal",
            f"{slowest.arrivals_ratio:.2f} (backlog {slowest.backlog:,})",
            slowest.arrivals_ratio >= 0.9,
        ),
        target_row(
            f"status p99, backlog {longest.backlog:,}",
            "≤ 20 ms",
            f"{longest.status_p99_ms:.1f} ms",
            longest.status_p99_ms <= 20,
        ),
    ]
    return [
        "### Many hosts on one queue",
        "",
        f"Real front ends and decoder processes on one PostgreSQL, all on this machine; the decoders run "
        f"the stand-in engine (`ENGINE={STAND_IN_ENGINE}`: no model, {STAND_IN_TASK_S:g} s per task), so "
        "the CPUs serve the front ends and the database. The backlog is jobs held under live leases by a "
        "host that does not exist: they wait ahead of every measured task, and nobody decodes them. Tasks "
        "are uploaded to the hosts in turn (8 at a time) while one client reads their status every "
        f"{POLL_INTERVAL_S * 1000:.0f} ms. Throughput is measured two ways: from the first start to the "
        "last end against every decoder busy all along, and from the first upload to the last end "
        "against a cluster that starts each task the moment it is uploaded and a decoder is free. "
        "The second is the cluster's own cost: on one machine the uploads' handling and checks take "
        "the CPUs that the other hosts share, so that many decoders empty the queue faster than the "
        "clients fill it, which the first counts against the cluster. Rows "
        "read (table rows and index entries), statements and NOTIFY messages on the channel every host "
        "hears are per task, counted "
        "from before the uploads until every host's statistics reached the database after the last "
        "end, so the hosts' regular looks are in them; with no backlog the jobs table is small, and "
        "PostgreSQL reads it whole rather than through its indexes, which is why those runs read more "
        "rows. RSS is the mean front end's; latencies in ms.",
        "",
        *table(
            (
                "hosts",
                "backlog",
                "tasks",
                "throughput / all busy",
                "throughput / ideal for the uploads",
                "rows read",
                "statements",
                "notifications",
                "RSS MiB",
                "upload p99",
                "status p99",
                "failed",
            ),
            rows,
        ),
        "Where the CPU time went, in CPU seconds per task, from the first upload until the last "
        "end: the front ends, their upload checker processes, their decoder processes, the "
        "database (every backend), and the benchmark's clients; and how busy the machine's CPUs "
        "were meanwhile.",
        "",
        *table(("hosts", "backlog", *cpu.GROUPS, "machine busy"), cpu_rows),
        f"The targets, at {most} hosts:",
        "",
        *table(("measure", "target", "result", ""), targets),
    ]
