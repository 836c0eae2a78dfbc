"""The event hub's fan-out and overflow policy, and Server-Sent Events through a real app."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from whisper_api.api.errors import EXCEPTION_HANDLERS, TaskNotFound
from whisper_api.api.events import EventHub, JobEvent, Subscription, sse_response


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


async def _collect(subscription: Subscription) -> list[JobEvent]:
    return [event async for event in subscription]


def sse_app(hub: EventHub, keepalive_s: float = 15.0) -> Starlette:
    """/events/{task_id}: a processing job's events; "done" is finished, "unknown" does not exist."""

    async def events(request: Request) -> Response:
        task_id = request.path_params["task_id"]

        async def snapshot() -> JobEvent:
            if task_id == "unknown":
                raise TaskNotFound("no such task")
            return status("finished" if task_id == "done" else "processing")

        return await sse_response(hub, task_id, snapshot, is_final, keepalive_s)

    return Starlette(routes=[Route("/events/{task_id}", events)], exception_handlers=EXCEPTION_HANDLERS)


def messages(lines: Iterator[str]) -> Iterator[JobEvent | str]:
    """The stream's messages: (event, data) pairs, and comments as strings."""
    fields: list[str] = []
    for line in lines:
        if line:
            fields.append(line)
            continue
        if fields[0].startswith(":"):
            yield fields[0]
        else:
            [event_line, data_line] = fields
            yield event_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: "))
        fields = []
    assert fields == [], "the stream ended in the middle of a message"


def in_loop(client: TestClient, hub: EventHub, *events: JobEvent) -> None:
    """Publish on the app's event loop, as the tracker does."""
    assert client.portal is not None
    for name, data in events:
        client.portal.call(hub.publish, "t1", name, data)


def test_the_stream_sends_the_snapshot_then_events_and_ends_after_the_final_one() -> None:
    hub = EventHub()
    with TestClient(sse_app(hub)) as client, client.stream("GET", "/events/t1") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        received = messages(response.iter_lines())
        assert next(received) == status("processing")
        in_loop(client, hub, progress(0.5), status("finished"), status("deleted"))
        assert list(received) == [progress(0.5), status("finished")]
    assert hub._subscribers == {}


def test_a_final_snapshot_ends_the_stream_at_once() -> None:
    hub = EventHub()
    with TestClient(sse_app(hub)) as client, client.stream("GET", "/events/done") as response:
        assert list(messages(response.iter_lines())) == [status("finished")]
    assert hub._subscribers == {}


def test_a_failing_snapshot_answers_with_the_error_and_unsubscribes() -> None:
    hub = EventHub()
    with TestClient(sse_app(hub)) as client:
        response = client.get("/events/unknown")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "task_not_found"
    assert hub._subscribers == {}


def test_an_idle_stream_carries_keepalive_comments() -> None:
    hub = EventHub()
    with TestClient(sse_app(hub, keepalive_s=0.02)) as client, client.stream("GET", "/events/t1") as response:
        received = messages(response.iter_lines())
        assert next(received) == status("processing")
        assert next(received) == ": keepalive"
        in_loop(client, hub, status("failed"))
        assert [m for m in received if m != ": keepalive"] == [status("failed")]


def test_closing_the_hub_ends_open_streams() -> None:
    hub = EventHub()
    with TestClient(sse_app(hub)) as client, client.stream("GET", "/events/t1") as response:
        received = messages(response.iter_lines())
        assert next(received) == status("processing")
        assert client.portal is not None
        client.portal.call(hub.close)
        assert list(received) == []


def test_a_client_that_goes_away_is_unsubscribed() -> None:
    hub = EventHub()
    with TestClient(sse_app(hub)) as client:
        with client.stream("GET", "/events/t1") as response:
            received = messages(response.iter_lines())
            assert next(received) == status("processing")
            assert set(hub._subscribers) == {"t1"}
        assert hub._subscribers == {}
        # Events for a task nobody watches go nowhere.
        in_loop(client, hub, status("finished"))


@pytest.fixture(autouse=True)
def quiet_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="whisper_api.api.events")
