"""The SQLite job store on a real database file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from decoder.wire.options import DecodeOptions
from decoder.wire.transcript import Segment, SegmentStats, Transcript, Word
from tests.unit.whisper_api.jobs.store_helpers import (
    Clock,
    make_job,
    run,
)
from whisper_api.jobs.errors import StoreError, StoreUnavailable
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.store.sqlite import SQLiteJobStore

HELLO = Transcript("hello", "en", 1.25, (Segment(0.0, 1.25, "hello"),))
# A database as the schema-3 release wrote it (tests/unit/whisper_api/data/jobs_schema_3.sql says how).
SCHEMA_3 = Path(__file__).parent / "data" / "jobs_schema_3.sql"


async def open_store(tmp_path: Path, clock: Clock, refresh: bool = False) -> SQLiteJobStore:
    store = SQLiteJobStore(tmp_path / "jobs.sqlite3", keep_results_s=60, refresh_on_use=refresh, clock=clock)
    await store.open()
    return store


def test_jobs_survive_reopening_with_every_field(tmp_path: Path) -> None:
    async def scenario() -> Job | None:
        store = await open_store(tmp_path, Clock())
        job = make_job(tmp_path, "a", owner="ada@example.org")
        await store.add(job)
        job.status, job.result = JobStatus.PROCESSING, HELLO
        job.attempts, job.cancel_requested = 1, True
        await store.save(job)
        await store.close()
        reopened = await open_store(tmp_path, Clock())
        try:
            return await reopened.get(job.task_id)
        finally:
            await reopened.close()

    job = run(scenario)
    assert job is not None
    assert (job.status, job.result) == (JobStatus.PROCESSING, HELLO)
    assert (job.attempts, job.cancel_requested, job.owner) == (1, True, "ada@example.org")
    assert job.audio_path == tmp_path / "a.wav"


def test_polling_a_finished_task_writes_at_most_once_a_minute(tmp_path: Path) -> None:
    clock = Clock()

    async def scenario() -> list[int]:
        store = SQLiteJobStore(
            tmp_path / "jobs.sqlite3", keep_results_s=3600, refresh_on_use=True, clock=clock
        )
        await store.open()
        job = make_job(tmp_path, "w")
        await store.add(job)
        job.status = JobStatus.FINISHED
        await store.finish(job)
        assert store._db is not None
        changes = [store._db.total_changes]
        for _ in range(100):  # a client polling every half second for 50 s
            clock.now += 0.5
            assert await store.get(job.task_id) is not None
        changes.append(store._db.total_changes)
        clock.now += 11  # a minute since the last write: this read refreshes the lifetime
        assert await store.get(job.task_id) is not None
        changes.append(store._db.total_changes)
        await store.close()
        return changes

    before, after_polls, after_a_minute = run(scenario)
    assert after_polls == before and after_a_minute == before + 1


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    database = sqlite3.connect(tmp_path / "jobs.sqlite3")
    database.execute("PRAGMA user_version=99")
    database.close()
    with pytest.raises(StoreError, match="schema version 99"):
        run(lambda: open_store(tmp_path, Clock()))


def unfinished_after_opening(tmp_path: Path) -> list[Job]:
    """The unfinished jobs, as a store that opens (and upgrades) the database reads them."""

    async def scenario() -> list[Job]:
        store = await open_store(tmp_path, Clock())
        jobs = await store.unfinished()
        await store.close()
        return jobs

    return run(scenario)


def test_a_version_1_database_is_upgraded_in_place(tmp_path: Path) -> None:
    database = sqlite3.connect(tmp_path / "jobs.sqlite3")
    database.execute(
        "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL UNIQUE, "
        "task_type TEXT NOT NULL, language TEXT, audio_path TEXT NOT NULL, original_file_name TEXT NOT NULL, "
        "uploaded_at REAL NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL, target_model_size TEXT, "
        "used_model_size TEXT, used_device TEXT, transcript TEXT, source_language TEXT, "
        "segments TEXT NOT NULL, error TEXT, started_at REAL, finished_at REAL, "
        "attempts INTEGER NOT NULL, expires_at REAL, cancel_requested INTEGER NOT NULL)"
    )
    database.execute(
        "INSERT INTO jobs (task_id, task_type, audio_path, original_file_name, uploaded_at, owner, status, "
        "segments, attempts, cancel_requested) VALUES (?, 'transcribe', '/a.wav', 'a.wav', 1, '', 'pending', "
        "'[]', 0, 0)",
        ("k" * 32,),
    )
    database.execute("PRAGMA user_version=1")
    database.commit()
    database.close()

    (job,) = unfinished_after_opening(tmp_path)
    assert (job.task_id, job.options, job.result, job.callback_url) == ("k" * 32, DecodeOptions(), None, None)


def test_a_version_2_database_gets_the_format_column_and_two_owner_name_spaces(tmp_path: Path) -> None:
    database = sqlite3.connect(tmp_path / "jobs.sqlite3")
    database.executescript(SCHEMA_3.read_text())
    database.execute("DELETE FROM jobs")
    for letter, owner in zip("lmno", ("ada@example.org", "ada", "key:0123456789abcdef", ""), strict=True):
        database.execute(
            "INSERT INTO jobs (task_id, task_type, audio_path, original_file_name, uploaded_at, owner, "
            "status, segments, attempts, cancel_requested) VALUES (?, 'transcribe', ?, ?, 1000, ?, "
            "'pending', '[]', 0, 0)",
            (letter * 32, str(tmp_path / f"{letter}.wav"), f"{letter}.wav", owner),
        )
    database.execute("ALTER TABLE jobs DROP COLUMN audio_format")
    database.execute("PRAGMA user_version=2")
    database.commit()
    database.close()

    jobs = unfinished_after_opening(tmp_path)
    assert [job.owner for job in jobs] == ["email:ada@example.org", "user:ada", "key:0123456789abcdef", ""]
    assert all(job.audio_format is None for job in jobs)


def test_a_corrupt_database_is_one_line_at_start(tmp_path: Path) -> None:
    (tmp_path / "jobs.sqlite3").write_bytes(b"SQLite format 3\0" + bytes(range(256)) * 64)
    with pytest.raises(StoreError) as refused:
        run(lambda: open_store(tmp_path, Clock()))
    assert "\n" not in str(refused.value) and "cannot use the job database" in str(refused.value)


def test_a_database_deleted_while_running_is_written_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await open_store(tmp_path, Clock())
        await store.add(make_job(tmp_path, "q"))
        for path in tmp_path.glob("jobs.sqlite3*"):
            path.unlink()
        assert await store.check() is None
        await store.add(make_job(tmp_path, "r"))
        await store.close()

    run(scenario)

    assert [job.task_id for job in unfinished_after_opening(tmp_path)] == ["q" * 32, "r" * 32]


def test_a_replaced_database_refuses_writes_and_says_so(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await open_store(tmp_path, Clock())
        await store.add(make_job(tmp_path, "s"))
        replacement = tmp_path / "other.sqlite3"
        sqlite3.connect(replacement).close()
        replacement.replace(tmp_path / "jobs.sqlite3")
        with pytest.raises(StoreUnavailable, match="replaced by another file") as refused:
            await store.add(make_job(tmp_path, "t"))
        assert not refused.value.full
        assert store.failing is not None and "replaced" in (await store.check() or "")
        await store.close()

    run(scenario)


def test_a_read_only_database_fails_writes_but_reads_still_work(tmp_path: Path) -> None:
    clock = Clock()

    async def scenario() -> None:
        store = await open_store(tmp_path, clock, refresh=True)
        job = make_job(tmp_path, "u")
        await store.add(job)
        job.status = JobStatus.FINISHED
        await store.finish(job)
        # What a read-only remount does to writes, without needing one: SQLite's own switch.
        await store._run(lambda: store._connection().execute("PRAGMA query_only=1"))
        clock.now += 30
        assert await store.get(job.task_id) is not None  # its refresh fails quietly
        with pytest.raises(StoreUnavailable):
            await store.add(make_job(tmp_path, "v"))
        assert await store.check() is not None
        await store._run(lambda: store._connection().execute("PRAGMA query_only=0"))
        assert await store.check() is None and store.failing is None
        await store.close()

    run(scenario)


def test_a_database_written_by_schema_3_upgrades_and_reads_its_jobs_back(tmp_path: Path) -> None:
    database = sqlite3.connect(tmp_path / "jobs.sqlite3")
    database.executescript(SCHEMA_3.read_text())
    database.close()

    async def scenario() -> tuple[list[Job | None], list[Job]]:
        store = await open_store(tmp_path, Clock())
        ended = [await store.get(letter * 32) for letter in "abc"]
        pending = await store.unfinished()
        await store.close()
        return ended, pending

    (talk, plain, failed), (waiting,) = run(scenario)
    assert talk is not None and plain is not None and failed is not None
    assert talk.result == Transcript(
        "Hello there. General Kenobi!",
        "en",
        3.5,
        (
            Segment(
                0.0,
                1.5,
                "Hello there.",
                (Word(0.0, 0.6, " Hello", 0.91), Word(0.7, 1.5, " there.", 0.875)),
                SegmentStats(0, (50364, 2425, 13), 0.0, -0.25, 1.2, 0.01),
            ),
            Segment(
                1.5,
                3.5,
                "General Kenobi!",
                (Word(1.5, 2.4, " General", 0.5), Word(2.5, 3.5, " Kenobi!", 0.25)),
                SegmentStats(150, (3632, 591), 0.2, -0.5, 1.5, 0.02),
            ),
        ),
    )
    assert (talk.status, talk.owner, talk.used_model_size, talk.audio_format) == (
        JobStatus.FINISHED,
        "key:team",
        "tiny.en",
        "mp3",
    )
    assert talk.options == DecodeOptions(temperature=0.0, beam_size=3, word_timestamps=True)
    assert plain.result == Transcript("Guten Tag", "de", 0.0, (Segment(0.0, 1.0, "Guten Tag"),))
    assert (failed.status, failed.result, failed.error) == (
        JobStatus.FAILED,
        None,
        "the decoder crashed twice on this file",
    )
    assert (waiting.task_id, waiting.result, waiting.duration_s) == ("d" * 32, None, 12.0)
    assert waiting.callback_url == "https://example.org/hook"
    columns = {
        row[1] for row in sqlite3.connect(tmp_path / "jobs.sqlite3").execute("PRAGMA table_info(jobs)")
    }
    assert "result" in columns and not columns & {"transcript", "segments", "words", "stats"}


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    database = sqlite3.connect(tmp_path / "jobs.sqlite3")
    database.executescript(SCHEMA_3.read_text())
    database.execute("UPDATE jobs SET segments = 'not json' WHERE task_id = ?", ("a" * 32,))
    database.commit()
    database.close()
    with pytest.raises(StoreError, match="cannot use the job database"):
        run(lambda: open_store(tmp_path, Clock()))
    database = sqlite3.connect(tmp_path / "jobs.sqlite3")
    assert database.execute("PRAGMA user_version").fetchone()[0] == 3
    assert database.execute("SELECT count(*) FROM jobs WHERE transcript IS NOT NULL").fetchone()[0] == 2
