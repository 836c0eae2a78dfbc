"""The PostgreSQL job store on a real server that the tests start (tests/support/postgres_cluster.py):
the same records as the SQLite store, migrations run once by hosts that start together, and a
server that goes away and comes back."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import psycopg
import pytest

from decoder.wire.options import DecodeOptions
from tests.support.backlog import add_backlog
from tests.support.postgres_cluster import PostgresCluster
from tests.unit.whisper_api.jobs.store_helpers import (
    HELLO,
    Clock,
    check_save_result,
    make_job,
    run,
)
from whisper_api.jobs.errors import LeaseLost, StoreError, StoreUnavailable
from whisper_api.jobs.job import JobStatus
from whisper_api.jobs.store.postgres import EXPIRY_LOCK, SCHEMA_VERSION, PostgresJobStore


async def open_store(url: str, clock: Clock | None = None, refresh: bool = False) -> PostgresJobStore:
    store = PostgresJobStore(
        url, host="test-host", keep_results_s=60, refresh_on_use=refresh, clock=clock or Clock()
    )
    await store.open()
    return store


def test_jobs_survive_reopening_with_every_field(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        store = await open_store(database_url)
        job = make_job(tmp_path, "a", owner="email:ada@example.org")
        job.options = DecodeOptions(initial_prompt="Ada", beam_size=3, word_timestamps=True)
        await store.add(job)
        job.status, job.result, job.attempts, job.cancel_requested = JobStatus.PROCESSING, HELLO, 1, True
        await store.save(job)
        await store.close()
        reopened = await open_store(database_url)
        try:
            assert await reopened.get(job.task_id) == job
            assert await reopened.get(job.task_id, owner="email:bob@example.org") is None
            assert await reopened.get("f" * 32) is None
        finally:
            await reopened.close()

    run(scenario)


def test_one_host_at_a_time_sweeps_expired_results(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        clock = Clock()
        store = await open_store(database_url, clock)
        try:
            job = make_job(tmp_path, "a")
            await store.add(job)
            job.status = JobStatus.FINISHED
            await store.finish(job)
            clock.now += 61
            # Another host's sweep holds the lock: this one skips its turn.
            with psycopg.connect(database_url, autocommit=True) as other:
                other.execute("SELECT pg_advisory_lock(%s, %s)", EXPIRY_LOCK)
                assert await store.expire() == 0
                # Released here: a closing connection's backend lets go of it only some time later.
                other.execute("SELECT pg_advisory_unlock(%s, %s)", EXPIRY_LOCK)
            assert await store.expire() == 1
        finally:
            await store.close()

    run(scenario)


def test_hosts_starting_together_migrate_once(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        stores = [
            PostgresJobStore(database_url, host=f"host-{index}", keep_results_s=60, refresh_on_use=False)
            for index in range(4)
        ]
        await asyncio.gather(*(store.open() for store in stores))
        for store in stores:
            await store.close()

    with caplog.at_level(logging.INFO, logger="whisper_api.jobs.store.postgres"):
        run(scenario)
    upgrades = [record for record in caplog.records if "upgrading the job database" in record.getMessage()]
    assert len(upgrades) == SCHEMA_VERSION
    with psycopg.connect(database_url) as db:
        versions = db.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [version for (version,) in versions] == list(range(1, SCHEMA_VERSION + 1))


def test_a_database_from_a_newer_version_is_refused(database_url: str) -> None:
    run(lambda: _open_and_close(database_url))
    with psycopg.connect(database_url) as db:
        db.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}; this server knows"):
        run(lambda: _open_and_close(database_url))


def test_an_unreachable_server_is_one_line_at_start(postgres: PostgresCluster) -> None:
    url = postgres.url("postgres").replace(f":{postgres.port}/", ":1/")
    with pytest.raises(StoreError, match="cannot reach the job database"):
        run(lambda: _open_and_close(url))


def test_a_server_that_goes_away_fails_calls_until_it_is_back(tmp_path: Path) -> None:
    # Its own server: stopping the shared one would break the other tests' databases.
    cluster = PostgresCluster()
    cluster.start()
    url = cluster.create_database("outage")

    async def scenario() -> None:
        store = await open_store(url)
        try:
            await store.add(make_job(tmp_path, "a"))
            cluster.stop()
            with pytest.raises(StoreUnavailable) as refused:
                await store.add(make_job(tmp_path, "b"))
            assert not refused.value.full and store.failing is not None
            assert await store.check() is not None
            cluster.start()
            # The next call connects again by itself.
            assert await store.check() is None and store.failing is None
            await store.add(make_job(tmp_path, "b"))
            assert [job.task_id[0] for job in await store.unfinished()] == ["a", "b"]
        finally:
            await store.close()

    try:
        run(scenario)
    finally:
        cluster.remove()


def _lapsed(url: str, task_id: str) -> bool:
    with psycopg.connect(url) as db:
        row = db.execute(
            "SELECT lease_until < extract(epoch FROM clock_timestamp()) FROM jobs WHERE task_id = %s",
            (task_id,),
        ).fetchone()
    return bool(row and row[0])


async def _open_and_close(url: str) -> None:
    store = PostgresJobStore(url, host="test-host", keep_results_s=60, refresh_on_use=False)
    await store.open()
    await store.close()


def test_hosts_claim_each_job_once_and_a_lapsed_lease_passes_it_on(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        a, b = (
            PostgresJobStore(database_url, host=name, keep_results_s=60, refresh_on_use=False)
            for name in "ab"
        )
        await a.open()
        await b.open()
        try:
            jobs = [make_job(tmp_path, letter, uploaded_at=float(n)) for n, letter in enumerate("xyz")]
            for job in jobs:
                await a.add(job)
            first, second = await a.claim(60), await b.claim(60)
            assert (first and first.task_id, second and second.task_id) == (jobs[0].task_id, jobs[1].task_id)
            # Claimed is not started: all three still wait, in upload order.
            assert await b.standing() == (3, 0.0)
            assert await b.positions([job.task_id for job in jobs]) == {
                job.task_id: n for n, job in enumerate(jobs)
            }
            # b may not write a's job; a may.
            with pytest.raises(LeaseLost, match="host a took over"):
                await b.save(jobs[0])
            jobs[0].attempts = 1
            await a.save(jobs[0])
            # a gives its job back: b gets it before z, which came later.
            await a.release(jobs[0])
            again = await b.claim(60)
            assert again is not None and again.task_id == jobs[0].task_id
            # A lease that is not renewed runs out, and another host claims the job.
            third = await a.claim(0.2)
            assert third is not None and third.task_id == jobs[2].task_id
            deadline = time.monotonic() + 30
            while not _lapsed(database_url, jobs[2].task_id):
                assert time.monotonic() < deadline, "the lease never ran out"
                await asyncio.sleep(0.05)
            # Not to the host whose decoder still holds it (its renewal failed, say)...
            assert await a.claim(60, holding=[jobs[2].task_id]) is None
            # ...but to any other.
            taken = await b.claim(60)
            assert taken is not None and taken.task_id == jobs[2].task_id and await a.claim(60) is None
            # A renewed lease holds.
            await b.renew([jobs[2].task_id], 60)
            assert await a.claim(60) is None
            # A host that stops gives back the claims of the jobs it had not started (y, z), and
            # lets the lease of the one it started (x) lapse at once: another host takes it
            # first, as interrupted (still processing, so that the interrupted-twice rule counts it).
            jobs[0].status = JobStatus.PROCESSING
            await b.save(jobs[0])
            await b.let_go()
            freed = [await a.claim(60) for _ in range(4)]
            assert [job and job.task_id for job in freed] == [*(job.task_id for job in jobs), None]
            assert freed[0] is not None and freed[0].status is JobStatus.PROCESSING
        finally:
            await a.close()
            await b.close()

    run(scenario)


def test_any_host_may_rename_a_finished_jobs_speakers(tmp_path: Path, database_url: str) -> None:
    async def scenario() -> None:
        store = await open_store(database_url)
        other = PostgresJobStore(database_url, host="other-host", keep_results_s=60, refresh_on_use=False)
        await other.open()
        try:
            # The job is this host's claim; the other host's rename is written all the same.
            await check_save_result(store, tmp_path, other)
        finally:
            await other.close()
            await store.close()

    run(scenario)


def test_the_queues_length_and_places_stay_exact_over_many_blocks(tmp_path: Path, database_url: str) -> None:
    """The database counts the waiting jobs per block (sql/postgres/0003_queue_standing.sql): the
    counts agree with counting the rows after jobs are queued, started, ended and deleted
    anywhere in a queue longer than one coarse block (4,096)."""

    async def scenario() -> None:
        store = await open_store(database_url)
        add_backlog(database_url, 5000, held=False, uploaded_at=1.0)
        try:
            mine = [make_job(tmp_path, letter, uploaded_at=2.0) for letter in "abc"]
            for job in mine:
                await store.add(job)
            with psycopg.connect(database_url, autocommit=True) as db:
                # Some start, some end, some are deleted: at the head, in the middle, near the end.
                db.execute("UPDATE jobs SET status = 'processing' WHERE seq IN (1, 2, 70, 4100)")
                db.execute("UPDATE jobs SET status = 'finished' WHERE seq IN (2, 3, 64, 4095)")
                db.execute("DELETE FROM jobs WHERE seq IN (5, 128, 4096, 4097, 4999)")
                # A finished job that is queued again waits in its old place.
                db.execute("UPDATE jobs SET status = 'pending' WHERE seq = 2")
                rows = db.execute(
                    "SELECT task_id, (SELECT count(*) FROM jobs AS ahead WHERE ahead.status = 'pending' "
                    "AND ahead.seq < jobs.seq) FROM jobs WHERE status = 'pending' AND seq % 97 IN (0, 1)"
                ).fetchall()
                counted = {task_id: int(ahead) for task_id, ahead in rows}
                waiting = db.execute("SELECT count(*) FROM jobs WHERE status = 'pending'").fetchone()
            assert waiting is not None and waiting[0] == 5003 - 4 - 3 - 5 + 1
            assert await store.standing() == (waiting[0], 1.0)
            assert await store.positions(list(counted)) == counted
            places = await store.positions([job.task_id for job in mine])
            assert places == {job.task_id: waiting[0] - 3 + n for n, job in enumerate(mine)}
            # A job that runs has no place; one that ends leaves the count.
            mine[0].status = JobStatus.PROCESSING
            await store.save(mine[0])
            assert await store.positions([mine[0].task_id]) == {}
            assert (await store.standing())[0] == waiting[0] - 1
        finally:
            await store.close()

    run(scenario)


def test_uploads_kept_in_the_database_go_with_their_jobs(tmp_path: Path, database_url: str) -> None:
    """MEDIA_STORE=database: the upload is a large object written with its job, brought back to
    another host's own folder, gone when the job ends or is deleted; and the expiry sweep
    removes any large object that no job holds."""

    def large_objects() -> int:
        with psycopg.connect(database_url, autocommit=True) as db:
            row = db.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
        assert row is not None
        return int(row[0])

    async def scenario() -> None:
        taking = PostgresJobStore(
            database_url, host="api", keep_results_s=60, refresh_on_use=False, media_dir=tmp_path / "api"
        )
        decoding = PostgresJobStore(
            database_url,
            host="worker",
            keep_results_s=60,
            refresh_on_use=False,
            media_dir=tmp_path / "worker",
        )
        for store in (taking, decoding):
            await store.open()
        try:
            (tmp_path / "api").mkdir()
            (tmp_path / "worker").mkdir()
            jobs = [make_job(tmp_path / "api", letter) for letter in "ab"]
            contents = [bytes(range(256)) * 8192 + letter.encode() for letter in "ab"]  # 2 MiB and a byte
            for job, content in zip(jobs, contents, strict=True):
                job.audio_path.write_bytes(content)
                await taking.add(job)
                assert not job.audio_path.exists()  # the database holds it now
            assert large_objects() == 2
            claimed = await decoding.claim(60)
            assert claimed is not None and claimed.audio_path == tmp_path / "worker" / jobs[0].audio_path.name
            assert await decoding.fetch_media(claimed)
            assert claimed.audio_path.read_bytes() == contents[0]
            claimed.status = JobStatus.FINISHED
            await decoding.finish(claimed)
            assert not claimed.audio_path.exists() and large_objects() == 1
            await taking.remove(jobs[1])
            assert large_objects() == 0
            # A large object no job holds (none should be) is swept with the expired jobs.
            with psycopg.connect(database_url, autocommit=True) as db:
                db.execute("SELECT lo_from_bytea(0, 'stray')")
            assert large_objects() == 1
            await taking.expire()
            assert large_objects() == 0
        finally:
            for store in (taking, decoding):
                await store.close()

    run(scenario)
