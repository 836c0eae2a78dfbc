"""Places in the queue for uploads in progress."""

from __future__ import annotations

import asyncio

import pytest

from whisper_api.jobs.errors import NoRoom, NotServing
from whisper_api.jobs.intake.admission import Admission


def waiting(count: list[int]) -> Admission:
    async def counted() -> int:
        await asyncio.sleep(0)  # as a database would, it lets other uploads run meanwhile
        return count[0]

    return Admission(max_queued=3, max_uploading=10, waiting=counted)


def test_uploads_in_progress_count_against_the_queue() -> None:
    async def scenario() -> None:
        admission = waiting([1])
        async with admission.place(), admission.place():
            assert admission.uploading == 2
            with pytest.raises(NoRoom, match="3 tasks are already waiting or uploading"):
                async with admission.place():
                    pass
        assert admission.uploading == 0

    asyncio.run(scenario())


def test_uploads_counted_at_once_do_not_pass_the_limit_together() -> None:
    async def scenario() -> list[bool]:
        admission = waiting([1])
        held = asyncio.Event()

        async def one() -> bool:
            try:
                async with admission.place():
                    await held.wait()
                    return True
            except NoRoom:
                return False

        uploads = [asyncio.create_task(one()) for _ in range(5)]
        await asyncio.sleep(0.01)
        held.set()
        return await asyncio.gather(*uploads)

    assert sorted(asyncio.run(scenario())) == [False, False, False, True, True]


def test_a_place_is_given_back_when_the_upload_fails() -> None:
    async def scenario() -> None:
        admission = waiting([2])
        with pytest.raises(ValueError):
            async with admission.place():
                raise ValueError("a bad file")
        async with admission.place():
            assert admission.uploading == 1

    asyncio.run(scenario())


def test_concurrent_uploads_are_capped_and_draining_refuses() -> None:
    async def scenario() -> None:
        admission = Admission(max_queued=100, max_uploading=1, waiting=lambda: asyncio.sleep(0, 0))
        async with admission.place():
            with pytest.raises(NoRoom, match="MAX_CONCURRENT_UPLOADS"):
                async with admission.place():
                    pass
        admission.draining = True
        with pytest.raises(NotServing):
            async with admission.place():
                pass

    asyncio.run(scenario())
