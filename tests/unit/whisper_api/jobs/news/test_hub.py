"""The event hub's fan-out and overflow policy."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from whisper_api.jobs.news.hub import EventHub, JobEvent, Subscription


def is_final(event: str, data: dict[str, Any]) -> bool:
    return event == "status" and data["status"] in ("finished", "failed")


def status(value: str) -> JobEvent:
    return "status", {"status": value}


def progress(value: float) -> JobEvent:
    return "progress", {"progress": value}


def publish(hub: EventHub, task_id: str, *events: JobEvent) -> None:
    for name, data in events:
        hub.publish(task_id, name, data)


async def held(subscription: Subscription) -> list[JobEvent]:
    """Everything the subscription holds now, without waiting for more."""
    events: list[JobEvent] = []
    while True:
        try:
            event = await asyncio.wait_for(subscription.get(), 0.01)
        except TimeoutError:
            return events
        if event is None:
            return events
        events.append(event)


async def _collect(subscription: Subscription) -> list[JobEvent]:
    return [event async for event in subscription]


def test_subscribers_get_their_task_s_events_in_order() -> None:
    async def run() -> None:
        hub = EventHub()
        first, second, other = hub.subscribe("t1"), hub.subscribe("t1"), hub.subscribe("t2")
        events = [status("processing"), progress(0.25), status("finished")]
        publish(hub, "t1", *events)
        assert await held(first) == events
        assert await held(second) == events
        assert await held(other) == []

    asyncio.run(run())


def test_a_subscriber_waits_for_the_next_event() -> None:
    async def run() -> None:
        hub = EventHub()
        with hub.subscribe("t1") as subscription:
            later = asyncio.get_running_loop().call_later(0.02, hub.publish, "t1", *status("processing"))
            assert await asyncio.wait_for(subscription.get(), 2) == status("processing")
            later.cancel()
        assert subscription.ended
        assert hub._subscribers == {}

    asyncio.run(run())


def test_progress_coalesces_for_a_slow_subscriber_and_others_get_everything() -> None:
    async def run() -> None:
        hub = EventHub()
        slow, prompt = hub.subscribe("t1"), hub.subscribe("t1")
        seen = []
        for event in [status("processing"), progress(0.1), progress(0.2), progress(0.3), status("finished")]:
            publish(hub, "t1", event)
            seen += await held(prompt)
        assert await held(slow) == [status("processing"), progress(0.3), status("finished")]
        assert len(seen) == 5

    asyncio.run(run())


def test_a_subscriber_that_stops_reading_is_ended_without_losing_what_it_holds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> None:
        hub = EventHub(max_pending=3)
        stalled, reader = hub.subscribe("t1"), hub.subscribe("t1")
        seen = []
        for index in range(5):
            publish(hub, "t1", ("status", {"n": index}), progress(index / 10))
            seen += await held(reader)
        # Two status events and the latest progress fit; the next status event does not.
        assert [event async for event in stalled] == [
            ("status", {"n": 0}),
            ("status", {"n": 1}),
            progress(0.1),
        ]
        assert stalled.ended and not reader.ended
        assert len(seen) == 10
        assert set(hub._subscribers["t1"]) == {reader}

    asyncio.run(run())
    assert "stopped reading its events" in caplog.text


def test_close_ends_every_subscription_after_what_it_holds() -> None:
    async def run() -> None:
        hub = EventHub()
        subscription = hub.subscribe("t1")
        publish(hub, "t1", status("processing"))
        reading = asyncio.create_task(_collect(subscription))
        await asyncio.sleep(0.01)
        hub.close()
        assert await asyncio.wait_for(reading, 2) == [status("processing")]
        publish(hub, "t1", status("finished"))
        late = hub.subscribe("t1")
        assert late.ended and await late.get() is None

    asyncio.run(run())


@pytest.fixture(autouse=True)
def quiet_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="whisper_api.jobs.news.hub")


def test_a_task_gaining_its_first_watcher_or_losing_its_last_is_told() -> None:
    hub = EventHub(max_pending=2)
    told: list[list[str]] = []
    hub.on_watching_changed(lambda: told.append(sorted(hub.watched_ids())))
    first, second = hub.subscribe("a"), hub.subscribe("a")
    other = hub.subscribe("b")
    assert told == [["a"], ["a", "b"]]
    first.close()
    second.close()
    assert told[-1] == ["b"] and len(told) == 3
    # A watcher that stops reading is dropped like one that leaves.
    publish(hub, "b", status("pending"), status("processing"), status("finished"))
    assert other.ended and told[-1] == [] and len(told) == 4
