"""The Server-Sent Events response of a task's events, over a real Starlette app."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.whisper_api.jobs.news.test_hub import is_final, progress, status
from whisper_api.api.errors import EXCEPTION_HANDLERS, TaskNotFound
from whisper_api.api.sse import sse_response
from whisper_api.jobs.news.hub import EventHub, JobEvent


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
    caplog.set_level(logging.WARNING, logger="whisper_api.jobs.news.hub")
