"""The JobStore contract (whisper_api.jobs.job), one suite run against every store alike: the
memory store the tracker's tests use, the SQLite file and a real PostgreSQL server. What only
one store does (SQLite's file and migrations, PostgreSQL's claims, leases and locks) is
tested beside it, in test_sqlite.py and test_postgres.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from decoder.wire.options import DecodeOptions
from tests.unit.whisper_api.jobs.store_helpers import (
    HELLO,
    Clock,
    check_same_upload,
    check_save_result,
    make_job,
    run,
)
from whisper_api.jobs.job import JobStatus, JobStore
from whisper_api.jobs.store.memory import MemoryJobStore
from whisper_api.jobs.store.postgres import PostgresJobStore
from whisper_api.jobs.store.sqlite import SQLiteJobStore

# How long the stores keep a result here.
KEEP_S = 60


@dataclass
class Opener:
    """Opens a new store of one kind on the test's clock."""

    kind: str
    tmp_path: Path
    database_url: str | None

    async def __call__(self, clock: Clock, refresh: bool = False) -> JobStore:
        store: JobStore
        if self.kind == "memory":
            store = MemoryJobStore(keep_results_s=KEEP_S, refresh_on_use=refresh, clock=clock)
        elif self.kind == "sqlite":
            path = self.tmp_path / "jobs.sqlite3"
            store = SQLiteJobStore(path, keep_results_s=KEEP_S, refresh_on_use=refresh, clock=clock)
        else:
            assert self.database_url is not None
            store = PostgresJobStore(
                self.database_url,
                host="test-host",
                keep_results_s=KEEP_S,
                refresh_on_use=refresh,
                clock=clock,
            )
        await store.open()
        return store


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    # Only the PostgreSQL runs start (or share) a PostgreSQL server.
    url = request.getfixturevalue("database_url") if request.param == "postgres" else None
    return Opener(request.param, tmp_path, url)


def against(
    opener: Opener, check: Callable[[JobStore, Clock], Awaitable[None]], refresh: bool = False
) -> None:
    """Run `check` on a new store of the kind, on a clock of its own."""

    async def scenario() -> None:
        clock = Clock()
        store = await opener(clock, refresh)
        try:
            await check(store, clock)
        finally:
            await store.close()

    run(scenario)


def test_a_job_comes_back_with_every_field(opener: Opener) -> None:
    async def check(store: JobStore, clock: Clock) -> None:
        job = make_job(opener.tmp_path, "a", owner="email:ada@example.org")
        job.options = DecodeOptions(
            initial_prompt="Ada",
            beam_size=3,
            word_timestamps=True,
            channels="split",
            channel_names=("A", "B"),
        )
        await store.add(job)
        job.status, job.result, job.attempts, job.cancel_requested = JobStatus.PROCESSING, HELLO, 1, True
        await store.save(job)
        job.attempts = 2  # the store holds a copy, not the caller's object
        stored = await store.get(job.task_id)
        assert stored is not None and stored == dataclasses.replace(job, attempts=1)
        assert await store.get("f" * 32) is None

    against(opener, check)


def test_unfinished_in_upload_order_and_pages_newest_first(opener: Opener) -> None:
    async def check(store: JobStore, clock: Clock) -> None:
        jobs = [make_job(opener.tmp_path, letter, owner="user:ada") for letter in "abcd"]
        for job in jobs:
            await store.add(job)
        jobs[1].status = JobStatus.FINISHED
        await store.finish(jobs[1])
        jobs[2].status = JobStatus.PROCESSING
        await store.save(jobs[2])
        assert [job.task_id[0] for job in await store.unfinished()] == ["a", "c", "d"]
        assert [job.task_id[0] for job in await store.page("user:ada", limit=2, offset=1)] == ["c", "b"]
        assert await store.page("user:bob", limit=10, offset=0) == []

    against(opener, check)


def test_an_ended_job_loses_its_audio_and_expires_when_read_late(opener: Opener) -> None:
    async def check(store: JobStore, clock: Clock) -> None:
        job = make_job(opener.tmp_path, "e")
        await store.add(job)
        job.status = JobStatus.FINISHED
        await store.finish(job)
        assert not job.audio_path.exists()
        clock.now += KEEP_S - 1
        assert await store.get(job.task_id) is not None
        clock.now += 1
        assert await store.get(job.task_id) is None
        clock.now -= 1  # gone for good, not hidden: its record was deleted when read
        assert await store.get(job.task_id) is None

    against(opener, check)


def test_reading_a_result_refreshes_its_lifetime_where_the_store_refreshes_on_use(opener: Opener) -> None:
    async def check(store: JobStore, clock: Clock) -> None:
        job = make_job(opener.tmp_path, "f")
        await store.add(job)
        job.status = JobStatus.FAILED
        await store.finish(job)
        for _ in range(3):
            clock.now += KEEP_S - 10
            assert await store.get(job.task_id) is not None, "read within its lifetime, each time"
        clock.now += KEEP_S + 1
        assert await store.get(job.task_id) is None

    against(opener, check, refresh=True)


def test_another_owners_read_finds_nothing_and_refreshes_nothing(opener: Opener) -> None:
    async def check(store: JobStore, clock: Clock) -> None:
        job = make_job(opener.tmp_path, "p", owner="user:ada")
        await store.add(job)
        job.status = JobStatus.FINISHED
        await store.finish(job)
        clock.now += KEEP_S - 10
        assert await store.get(job.task_id, "user:bob") is None
        clock.now += 11  # past the lifetime the finish gave it: Bob's read did not extend it
        assert await store.get(job.task_id, "user:ada") is None

    against(opener, check, refresh=True)


def test_the_owners_read_finds_the_job(opener: Opener) -> None:
    async def check(store: JobStore, clock: Clock) -> None:
        job = make_job(opener.tmp_path, "o", owner="user:ada")
        await store.add(job)
        found = await store.get(job.task_id, "user:ada")
        assert found is not None and found.task_id == job.task_id

    against(opener, check)


def test_the_sweep_removes_only_expired_results_and_never_waiting_jobs(opener: Opener) -> None:
    async def check(store: JobStore, clock: Clock) -> None:
        old, young, waiting = (make_job(opener.tmp_path, letter) for letter in "ghi")
        for job in (old, young, waiting):
            await store.add(job)
        old.status = JobStatus.FINISHED
        await store.finish(old)
        clock.now += KEEP_S / 2
        young.status = JobStatus.FINISHED
        await store.finish(young)
        clock.now += KEEP_S / 2 + 10
        assert await store.expire() == 1
        assert await store.get(old.task_id) is None and await store.get(young.task_id) is not None
        clock.now += 10_000
        assert await store.expire() == 1
        assert [job.task_id for job in await store.unfinished()] == [waiting.task_id]
        assert waiting.audio_path.exists()

    against(opener, check)


def test_remove_deletes_the_record_and_the_audio(opener: Opener) -> None:
    async def check(store: JobStore, clock: Clock) -> None:
        job = make_job(opener.tmp_path, "j")
        await store.add(job)
        await store.remove(job)
        assert await store.get(job.task_id) is None
        assert not job.audio_path.exists()
        assert await store.unfinished() == []

    against(opener, check)


def test_a_cancel_request_marks_the_job_and_writes_nothing_else(opener: Opener) -> None:
    async def check(store: JobStore, clock: Clock) -> None:
        job = make_job(opener.tmp_path, "k")
        await store.add(job)
        job.cancel_requested, job.attempts = True, 3
        await store.request_cancel(job)
        stored = await store.get(job.task_id)
        assert stored is not None and stored.cancel_requested and stored.attempts == 0

    against(opener, check)


def test_an_upload_is_found_by_its_owner_and_content(opener: Opener) -> None:
    async def check(store: JobStore, clock: Clock) -> None:
        await check_same_upload(store, opener.tmp_path, clock)

    against(opener, check)


def test_a_renamed_result_is_written_alone(opener: Opener) -> None:
    async def check(store: JobStore, clock: Clock) -> None:
        await check_save_result(store, opener.tmp_path)

    against(opener, check)
