"""Which job holds an upload already: content keys, and uploads of one key arriving together."""

from __future__ import annotations

import asyncio
from pathlib import Path

from decoder.wire.options import DecodeOptions
from tests.unit.whisper_api.jobs.store_helpers import Clock, check_same_upload, make_job, run
from whisper_api.jobs.intake.uploads_index import UploadIndex, content_key
from whisper_api.jobs.store.memory import MemoryJobStore


def test_the_key_holds_the_bytes_and_everything_asked() -> None:
    key = content_key("ab" * 32, "media file", "transcribe", DecodeOptions())
    assert key == content_key("ab" * 32, "media file", "transcribe", DecodeOptions())
    others = {
        content_key("cd" * 32, "media file", "transcribe", DecodeOptions()),
        content_key("ab" * 32, "media file", "translate", DecodeOptions()),
        content_key("ab" * 32, "media file", "transcribe", DecodeOptions(word_timestamps=True)),
        content_key("ab" * 32, "media file", "transcribe", DecodeOptions(initial_prompt="Ada")),
        content_key("ab" * 32, "pcm_s16le 16 kHz mono", "transcribe", DecodeOptions()),
    }
    assert key not in others and len(others) == 5


def test_the_memory_store_finds_uploads_as_the_others_do(tmp_path: Path) -> None:
    clock = Clock()
    run(lambda: check_same_upload(MemoryJobStore(keep_results_s=60, clock=clock), tmp_path, clock))


def test_uploads_arriving_together_wait_for_the_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = MemoryJobStore()
        index = UploadIndex(store)
        assert await index.earlier("ada", "k") is None  # ada's first upload holds the key
        second = asyncio.create_task(index.earlier("ada", "k"))
        theirs = await index.earlier("bob", "k")  # another owner never waits on ada
        await asyncio.sleep(0)
        assert theirs is None and not second.done()
        job = make_job(tmp_path, "a", owner="ada")
        job.content_key = "k"
        await store.add(job)
        index.done("ada", "k", job)
        found = await second
        assert found is not None and found.task_id == job.task_id
        index.done("bob", "k", None)

    run(scenario)


def test_a_refused_first_upload_hands_the_key_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        index = UploadIndex(MemoryJobStore())
        assert await index.earlier("ada", "k") is None
        second = asyncio.create_task(index.earlier("ada", "k"))
        await asyncio.sleep(0)
        index.done("ada", "k", None)  # the first was refused: the second checks its own
        assert await second is None
        third = asyncio.create_task(index.earlier("ada", "k"))
        await asyncio.sleep(0)
        assert not third.done(), "the second holds the key now"
        index.done("ada", "k", None)
        assert await third is None
        index.done("ada", "k", None)

    run(scenario)
