"""Callback URL checks, and deliveries to a real HTTP receiver on the loopback interface."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from typing import Any

import pytest

from whisper_api.api.errors import job_error_status
from whisper_api.jobs.errors import CallbackRejected
from whisper_api.jobs.news.webhooks import WebhookSender, check_callback_url

TASK_ID = "0123456789abcdef0123456789abcdef"
# The receivers here listen on loopback, which callbacks may reach only where it is allowed.
LOOPBACK = (ip_network("127.0.0.0/8"),)
PAYLOAD = {"task_id": TASK_ID, "status": "finished", "transcript": "the secret transcript ünïcode"}


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers POSTs with `answers` in turn, (status, seconds to wait first), then 200 at once."""

    answers: list[tuple[int, float]]
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Request) -> tuple[int, float]:
        with self.lock:
            self.requests.append(request)
            return self.answers.pop(0) if self.answers else (200, 0.0)


@contextlib.contextmanager
def receiving(*answers: tuple[int, float]) -> Iterator[tuple[str, Receiver]]:
    """A receiver on 127.0.0.1 and its URL."""
    receiver = Receiver(list(answers))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, wait_s = receiver.answer(Request(self.path, headers, body, time.monotonic()))
            time.sleep(wait_s)
            try:
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender stopped waiting

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits for the next poll.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", receiver
    finally:
        server.shutdown()
        server.server_close()


def deliver(
    url: str,
    *,
    timeout_s: float = 2.0,
    attempts: int = 3,
    first_delay_s: float = 0.05,
    max_delay_s: float = 0.1,
) -> float:
    """Send PAYLOAD with retries a test can wait for, until the delivery ends; the seconds it took."""

    async def run() -> None:
        sender = WebhookSender(
            allowed_networks=LOOPBACK,
            timeout_s=timeout_s,
            attempts=attempts,
            first_delay_s=first_delay_s,
            max_delay_s=max_delay_s,
        )
        sender.send(url, PAYLOAD, task_id=TASK_ID)
        await sender.close(grace_s=20)

    start = time.monotonic()
    asyncio.run(run())
    return time.monotonic() - start


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "whisper_api.jobs.news.webhooks" and r.levelno == level
    ]


@pytest.fixture(autouse=True)
def capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="whisper_api.jobs.news.webhooks")


def test_delivered_at_the_first_attempt(caplog: pytest.LogCaptureFixture) -> None:
    with receiving() as (url, receiver):
        deliver(url + "?token=s3cret")
    [request] = receiver.requests
    assert request.path == "/hook?token=s3cret"
    assert json.loads(request.body) == PAYLOAD
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "whisper-api"
    assert records(caplog, logging.INFO) == [f"callback for task {TASK_ID} delivered to {url}"]
    assert "secret transcript" not in caplog.text
    assert "s3cret" not in "".join(r.getMessage() for r in caplog.records if r.name.startswith("whisper"))


def test_delivered_at_the_third_attempt_after_two_errors(caplog: pytest.LogCaptureFixture) -> None:
    with receiving((500, 0), (500, 0)) as (url, receiver):
        deliver(url)
    assert len(receiver.requests) == 3
    assert all(json.loads(r.body) == PAYLOAD for r in receiver.requests)
    warnings = records(caplog, logging.WARNING)
    assert len(warnings) == 2
    assert "(attempt 1 of 3): HTTP 500" in warnings[0]
    assert records(caplog, logging.ERROR) == []
    assert "secret transcript" not in caplog.text


def test_gives_up_after_all_attempts_with_growing_capped_delays(caplog: pytest.LogCaptureFixture) -> None:
    with receiving(*[(503, 0)] * 10) as (url, receiver):
        deliver(url, attempts=4, first_delay_s=0.05, max_delay_s=0.1)
    assert len(receiver.requests) == 4
    times = [r.at for r in receiver.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.1
    assert gaps[2] < 0.2  # capped at 0.1 rather than doubled again
    assert len(records(caplog, logging.WARNING)) == 4
    assert records(caplog, logging.ERROR) == [f"giving up the callback for task {TASK_ID} after 4 attempts"]


def test_redirects_are_not_followed() -> None:
    with receiving(*[(307, 0)] * 10) as (url, receiver):
        deliver(url, attempts=2)
    assert [r.path for r in receiver.requests] == ["/hook", "/hook"]


def test_an_unreachable_receiver_is_given_up_without_hanging(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more: every connection is refused.
    assert deliver(f"http://127.0.0.1:{port}/hook") < 5
    assert len(records(caplog, logging.WARNING)) == 3
    assert len(records(caplog, logging.ERROR)) == 1


def test_a_receiver_slower_than_the_timeout_is_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    with receiving((200, 0.6)) as (url, receiver):
        deliver(url, timeout_s=0.2)
    assert len(receiver.requests) == 2
    [warning] = records(caplog, logging.WARNING)
    assert warning.endswith("no answer within 0.2 s")


def test_close_cancels_retries_still_waiting(caplog: pytest.LogCaptureFixture) -> None:
    async def run(url: str, receiver: Receiver) -> float:
        sender = WebhookSender(allowed_networks=LOOPBACK, timeout_s=2.0, attempts=5, first_delay_s=30.0)
        sender.send(url, PAYLOAD, task_id=TASK_ID)
        while not receiver.requests:
            await asyncio.sleep(0.01)
        start = time.monotonic()
        await sender.close(grace_s=0.1)
        sender.send(url, PAYLOAD, task_id=TASK_ID)  # refused: the sender is closed
        return time.monotonic() - start

    with receiving(*[(500, 0)] * 10) as (url, receiver):
        assert asyncio.run(run(url, receiver)) < 2
        time.sleep(0.1)
        assert len(receiver.requests) == 1
    assert records(caplog, logging.ERROR) == [
        f"callback for task {TASK_ID} not delivered: the server stopped",
        f"callback for task {TASK_ID} not sent: the server is stopping",
    ]


def test_a_payload_that_is_not_json_is_refused_at_once() -> None:
    async def run() -> None:
        sender = WebhookSender()
        with pytest.raises(ValueError):
            sender.send("http://127.0.0.1/hook", {"score": float("nan")}, task_id=TASK_ID)
        await sender.close(grace_s=0)

    asyncio.run(run())


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://example.org/hook", ""),
        ("https://example.org:8443/hook?token=abc#part", ""),
        ("HTTPS://Example.ORG/hook", "example.org"),
        ("https://hooks.example.org/x", "other.net,.example.org"),
        ("https://example.org/x", ".example.org"),
        ("https://a.b.example.org/x", ".Example.org"),
    ],
)
def test_accepted_callback_urls(url: str, allowed: str) -> None:
    assert check_callback_url(url, frozenset(filter(None, allowed.split(",")))) == url


@pytest.mark.parametrize(
    ("url", "allowed", "reason"),
    [
        ("ftp://example.org/hook", "", "http:// or https://"),
        ("file:///etc/passwd", "", "http:// or https://"),
        ("example.org/hook", "", "http:// or https://"),
        ("http:///hook", "", "no host"),
        ("http://user:pass@example.org/", "", "user name or password"),
        ("http://user@example.org/", "", "user name or password"),
        ("http://example.org:99999/", "", "malformed"),
        ("http://example.org:0/", "", "port 0"),
        ("http://[::1/", "", "malformed"),
        ("http://example.org/a b", "", "spaces"),
        ("http://example.org/\n", "", "control characters"),
        ("http://evil.net\\@example.org/", "example.org", "backslashes"),
        ("http://exämple.org/", "", "punycode"),
        ("http://example.org/" + "a" * 2048, "", "longer than 2048"),
        ("http://evil.net/", "example.org", "not allowed"),
        ("http://sub.example.org/", "example.org", "not allowed"),
        ("http://badexample.org/", ".example.org", "not allowed"),
        ("http://example.org.evil.net/", ".example.org", "not allowed"),
    ],
)
def test_rejected_callback_urls(url: str, allowed: str, reason: str) -> None:
    with pytest.raises(CallbackRejected, match=reason) as caught:
        check_callback_url(url, frozenset(filter(None, allowed.split(","))))
    assert job_error_status(caught.value) == 400


INTERNAL_SPELLINGS = [
    "http://127.0.0.1:9000/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://[::1]:9000/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://127.1/",
    "http://0177.0.0.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://printer.local/",
]


@pytest.mark.parametrize("url", INTERNAL_SPELLINGS)
def test_internal_addresses_are_refused_in_every_spelling(url: str) -> None:
    with pytest.raises(CallbackRejected, match="refused"):
        check_callback_url(url, frozenset())


def test_an_allowed_network_lets_its_addresses_through() -> None:
    assert check_callback_url("http://10.1.2.3/hook", frozenset(), (ip_network("10.0.0.0/8"),))
    with pytest.raises(CallbackRejected):
        check_callback_url("http://10.1.2.3/hook", frozenset(), (ip_network("192.168.0.0/16"),))


def test_a_name_that_resolves_to_loopback_is_refused_when_it_connects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The name passes the check at submission (it is no literal, no internal zone); at delivery
    it resolves to the receiver's loopback address, and nothing is sent."""

    async def rebinding(host: str, port: int) -> list[str]:
        assert host == "hooks.example.org"
        return ["127.0.0.1"]

    with receiving() as (url, receiver):
        port = url.split(":")[2].split("/")[0]
        named = f"http://hooks.example.org:{port}/hook"
        assert check_callback_url(named, frozenset()) == named

        async def run() -> None:
            sender = WebhookSender(resolver=rebinding, timeout_s=2.0, attempts=3, first_delay_s=0.05)
            sender.send(named, PAYLOAD, task_id=TASK_ID)
            await sender.close(grace_s=10)

        asyncio.run(run())
    assert receiver.requests == []
    assert any("refused" in message for message in records(caplog, logging.ERROR))


def test_delivery_goes_to_the_checked_address_with_the_name_as_host() -> None:
    resolved: list[str] = []

    async def once(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    with receiving() as (url, receiver):
        port = url.split(":")[2].split("/")[0]

        async def run() -> None:
            sender = WebhookSender(allowed_networks=LOOPBACK, resolver=once, attempts=1)
            sender.send(f"http://hooks.example.org:{port}/hook", PAYLOAD, task_id=TASK_ID)
            await sender.close(grace_s=10)

        asyncio.run(run())
    assert resolved == ["hooks.example.org"]
    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.example.org:{port}"
