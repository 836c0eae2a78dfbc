"""Callbacks: when a job ends, POST its result as JSON to the URL given with the upload.

Security: a callback URL makes the server send a request wherever the uploader says, so an
untrusted uploader can reach addresses only the server can reach (internal services, cloud
metadata endpoints at 169.254.169.254, admin ports on localhost): server-side request forgery.
Where untrusted people can upload, restrict the hosts (CALLBACK_ALLOWED_HOSTS). The check is
by name, before any DNS lookup: list only names whose DNS you control. Redirects are never
followed, so an allowed host cannot send the request on elsewhere, and proxy variables and
~/.netrc are ignored so that no credentials of the server go to an uploader's URL.

Delivery runs in background tasks on the event loop; the caller never waits. Each attempt is
bounded by a timeout; failures (no connection, timeout, any non-2xx answer) are retried with
exponential backoff. Nothing here logs a payload: it holds transcripts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from whisper_api.errors import BadRequest

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
HOST_NAME = re.compile(r"[a-z0-9_.-]+")
HEADERS = {"Content-Type": "application/json", "User-Agent": "whisper-api"}


class CallbackRejected(BadRequest):
    code = "callback_rejected"


def check_callback_url(url: str, allowed_hosts: frozenset[str]) -> str:
    """`url` if it may be called back, else CallbackRejected (400).

    An http(s) URL with a host and without user info, at most MAX_URL_LENGTH characters.
    `allowed_hosts` empty allows any host; otherwise the host must be one of them, ignoring
    case, where an entry with a leading dot (".example.org") allows that domain and all its
    subdomains.
    """
    if len(url) > MAX_URL_LENGTH:
        raise CallbackRejected(f"the callback URL is longer than {MAX_URL_LENGTH} characters")
    # Characters that parsers disagree on (browsers read a backslash as a slash) could make
    # httpx call another host than the one checked here.
    if any(char <= " " or char in "\x7f\\" for char in url):
        raise CallbackRejected("the callback URL contains spaces, backslashes or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CallbackRejected(f"the callback URL is malformed: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise CallbackRejected("the callback URL must start with http:// or https://")
    if "@" in parts.netloc:
        raise CallbackRejected("the callback URL must not contain a user name or password")
    host = parts.hostname
    if not host:
        raise CallbackRejected("the callback URL has no host")
    if port == 0:
        raise CallbackRejected("the callback URL has port 0")
    if not (HOST_NAME.fullmatch(host) or _is_ip(host)):
        raise CallbackRejected("the callback URL's host must be a DNS name (IDNs in punycode) or an IP")
    if allowed_hosts and not _host_allowed(host, allowed_hosts):
        raise CallbackRejected(f"callbacks to {host} are not allowed (CALLBACK_ALLOWED_HOSTS)")
    return url


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_allowed(host: str, allowed_hosts: frozenset[str]) -> bool:
    for entry in map(str.lower, allowed_hosts):
        if entry.startswith("."):
            if host == entry[1:] or host.endswith(entry):
                return True
        elif host == entry:
            return True
    return False


class WebhookSender:
    """Delivers callbacks in background tasks; close() at shutdown."""

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        attempts: int = 5,
        first_delay_s: float = 1.0,
        max_delay_s: float = 60.0,
    ) -> None:
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._first_delay_s = first_delay_s
        self._max_delay_s = max_delay_s
        self._client = httpx.AsyncClient(
            timeout=timeout_s, follow_redirects=False, trust_env=False, headers=HEADERS
        )
        # The event loop keeps only weak references to tasks: these keep deliveries alive.
        self._deliveries: set[asyncio.Task[None]] = set()
        self._closed = False

    def send(self, url: str, payload: dict[str, Any], *, task_id: str) -> None:
        """Start delivering `payload` to `url` and return at once; `task_id` is for the logs.

        Raises TypeError or ValueError if `payload` cannot be written as JSON.
        """
        if self._closed:
            log.error("callback for task %s not sent: the server is stopping", task_id)
            return
        # Written once here rather than by every attempt.
        body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode()
        delivery = asyncio.create_task(self._deliver(url, body, task_id), name=f"callback-{task_id}")
        self._deliveries.add(delivery)
        delivery.add_done_callback(self._finished)

    async def close(self, grace_s: float) -> None:
        """Wait up to `grace_s` for deliveries under way, retries included, then cancel them."""
        self._closed = True
        if self._deliveries:
            _, unfinished = await asyncio.wait(self._deliveries, timeout=grace_s)
            for delivery in unfinished:
                delivery.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        await self._client.aclose()

    async def _deliver(self, url: str, body: bytes, task_id: str) -> None:
        delay = self._first_delay_s
        try:
            for attempt in range(1, self._attempts + 1):
                problem = await self._attempt(url, body)
                if problem is None:
                    log.info("callback for task %s delivered to %s", task_id, _where(url))
                    return
                log.warning(
                    "callback for task %s to %s failed (attempt %d of %d): %s",
                    task_id,
                    _where(url),
                    attempt,
                    self._attempts,
                    problem,
                )
                if attempt < self._attempts:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._max_delay_s)
            log.error("giving up the callback for task %s after %d attempts", task_id, self._attempts)
        except asyncio.CancelledError:
            log.error("callback for task %s not delivered: the server stopped", task_id)
            raise

    async def _attempt(self, url: str, body: bytes) -> str | None:
        """None on a 2xx answer, otherwise what went wrong."""
        try:
            # httpx's timeout bounds each read or write; this bounds the attempt as a whole,
            # against a receiver that trickles its answer.
            status = await asyncio.wait_for(self._post(url, body), self._timeout_s)
        except (asyncio.TimeoutError, httpx.TimeoutException):
            return f"no answer within {self._timeout_s:g} s"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return None if 200 <= status < 300 else f"HTTP {status}"

    async def _post(self, url: str, body: bytes) -> int:
        # Streamed so that the answer's body, which nobody needs, is never read into memory.
        async with self._client.stream("POST", url, content=body) as response:
            return response.status_code

    def _finished(self, delivery: asyncio.Task[None]) -> None:
        self._deliveries.discard(delivery)
        if not delivery.cancelled() and (error := delivery.exception()) is not None:
            log.error("callback delivery failed unexpectedly", exc_info=error)


def _where(url: str) -> str:
    """The URL without its query: callback URLs often carry a secret token there."""
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl()
