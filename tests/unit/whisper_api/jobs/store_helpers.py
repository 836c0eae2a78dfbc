"""What the store tests share: a clock they move by hand, a runner, and jobs with audio files."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from decoder.wire.transcript import Segment, SegmentStats, Transcript, Word
from whisper_api.jobs.job import Job, JobStatus, JobStore

T = TypeVar("T")

# A result with every kind of field a transcript has: words, and each statistic of a segment.
WORDS = (Word(0.0, 0.5, " hello", 0.875),)
HELLO = Transcript(
    "hello",
    "en",
    1.25,
    (Segment(0.0, 1.25, "hello", WORDS, SegmentStats(0, (1, 2), 0.0, -0.25, 1.5, 0.125)),),
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


def make_job(tmp_path: Path, letter: str, owner: str = "", uploaded_at: float = 1000.0) -> Job:
    audio = tmp_path / f"{letter}.wav"
    audio.write_bytes(b"RIFF")
    return Job(letter * 32, "transcribe", None, audio, f"{letter}.wav", uploaded_at, owner)


async def check_same_upload(store: JobStore, tmp_path: Path, clock: Clock) -> None:
    """JobStore.same_upload as every store must answer it: the owner's newest usable job."""
    jobs = {letter: make_job(tmp_path, letter, owner="key:ada") for letter in "abcd"}
    jobs["b"].owner = "key:bob"
    for job in jobs.values():
        job.content_key = "same"
        await store.add(job)

    async def found(owner: str = "key:ada", key: str = "same") -> str | None:
        job = await store.same_upload(owner, key)
        return None if job is None else job.task_id[0]

    assert (await found(), await found("key:bob"), await found(key="other")) == ("d", "b", None)
    jobs["d"].cancel_requested = True
    await store.save(jobs["d"])
    jobs["c"].status = JobStatus.FAILED
    await store.save(jobs["c"])
    assert await found() == "a", "neither a cancelled nor a failed job answers"
    jobs["a"].status = JobStatus.FINISHED
    await store.finish(jobs["a"])
    assert await found() == "a", "a finished job answers while it is kept"
    clock.now += 3600 * 24
    assert await found() is None, "an expired one does not"


async def check_save_result(store: JobStore, tmp_path: Path, other: JobStore | None = None) -> None:
    """JobStore.save_result as every store must do it: the result alone is written (by `other`,
    another host of the same database, where given)."""
    job = make_job(tmp_path, "r")
    await store.add(job)
    job.status = JobStatus.FINISHED
    job.result = Transcript(
        "Hi", "en", 1.0, (Segment(0.0, 1.0, " Hi", speaker="SPEAKER_00"),), ("SPEAKER_00",)
    )
    await store.finish(job)
    renamed = copy.copy(job)
    renamed.result = Transcript("Hi", "en", 1.0, (Segment(0.0, 1.0, " Hi", speaker="Ann"),), ("Ann",))
    renamed.status = JobStatus.FAILED  # not written: only the result is
    await (other or store).save_result(renamed)
    stored = await store.get(job.task_id)
    assert stored is not None and stored.status is JobStatus.FINISHED
    assert stored.result == renamed.result
