"""The hosts' notifications on a real PostgreSQL: the channel every host hears, and a task's own
channel, heard only while the host asks for that task."""

from __future__ import annotations

import asyncio
import contextlib
import time

from tests.unit.whisper_api.jobs.store.test_postgres import open_store
from tests.unit.whisper_api.jobs.store_helpers import run
from whisper_api.jobs.store.postgres import task_channel

A, B = "a" * 32, "b" * 32
# How often the sender says "b" again until the listener has heard it.
RESEND_S = 0.05


def test_hosts_hear_each_others_notifications(database_url: str) -> None:
    async def scenario() -> list[str]:
        store = await open_store(database_url)
        heard: list[str] = []
        try:
            # Closed here, not left to the garbage collector: its connection closes with it.
            async with contextlib.aclosing(store.db.notifications()) as notifications:
                async for payload in notifications:
                    heard.append(payload)
                    if payload == "":
                        await store.db.notify("hello")
                    else:
                        break
        finally:
            await store.close()
        return heard

    assert run(scenario) == ["", "hello"]


def test_a_tasks_channel_is_heard_only_while_its_task_is_asked_for(database_url: str) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        store = await open_store(database_url)
        tasks, changed = {A}, asyncio.Event()
        before: list[str] = []
        after: list[str] = []
        sending: asyncio.Task[None] | None = None

        async def say_b_until_heard() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                await store.db.notify("b", task_channel(B))
                await asyncio.sleep(RESEND_S)

        try:
            async with contextlib.aclosing(store.db.notifications(lambda: tasks, changed)) as notifications:
                async for payload in notifications:
                    if payload == "":
                        # Sent in this order by one session, heard in it.
                        await store.db.notify("a", task_channel(A))
                        await store.db.notify("b, not asked for", task_channel(B))
                        await store.db.notify("everyone")
                    elif payload == "everyone":
                        before.append(payload)
                        # From now on B, and no longer A.
                        tasks.clear()
                        tasks.add(B)
                        changed.set()
                        sending = asyncio.create_task(say_b_until_heard())
                    elif sending is None:
                        before.append(payload)
                    elif payload == "b" and not after:
                        # The listener hears B now, and so has stopped hearing A.
                        sending.cancel()
                        after.append(payload)
                        await store.db.notify("a again", task_channel(A))
                        await store.db.notify("b again", task_channel(B))
                        await store.db.notify("end")
                    elif payload != "b":
                        after.append(payload)
                        if payload == "end":
                            break
        finally:
            if sending is not None:
                sending.cancel()
            await store.close()
        return before, after

    assert run(scenario) == (["a", "everyone"], ["b", "b again", "end"])
