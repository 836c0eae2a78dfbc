"""Callbacks: when a job ends, POST its result as JSON to the URL given with the upload.

Security: a callback URL makes the server send a request wherever the uploader says, so an
untrusted uploader could reach addresses only the server can reach (internal services, cloud
metadata endpoints at 169.254.169.254, admin ports on localhost): server-side request forgery.
So callbacks go to public addresses only. Loopback, private, link-local, unique-local,
multicast, reserved and unspecified addresses are refused, in every spelling (`127.1`,
`0x7f000001`, `2130706433`, `[::ffff:127.0.0.1]`), as are names of internal zones (`localhost`,
`*.internal`, `*.local`, ...), unless CALLBACK_ALLOWED_NETWORKS names the network. The check
is made twice: on the URL when the job is submitted, and on the address the name resolves to
when each attempt connects, which then goes to that checked address (the name stays in the Host
header and TLS's SNI and certificate check), so a name cannot be rebound to an internal address
between check and use. CALLBACK_ALLOWED_HOSTS narrows the names further. Redirects are never
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
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from whisper_api.jobs.errors import CallbackRejected
from whisper_api.settings.kinds import IPNetwork

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
HOST_NAME = re.compile(r"[a-z0-9_.-]+")
HEADERS = {"Content-Type": "application/json", "User-Agent": "whisper-api"}
# Names of zones that never lead to the public internet.
INTERNAL_NAMES = frozenset(
    {"localhost", ".localhost", ".local", ".internal", ".home.arpa", ".localdomain", ".lan"}
)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to; the event loop's getaddrinfo by default.
Resolver = Callable[[str, int], Awaitable[list[str]]]


def address_allowed(address: IPAddress, allowed_networks: tuple[IPNetwork, ...]) -> bool:
    """Whether a callback may go to `address`: a public one, or one in CALLBACK_ALLOWED_NETWORKS."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed_networks):
        return True
    return address.is_global and not address.is_multicast


def literal_address(host: str) -> IPAddress | None:
    """The address a host that is an IP literal names, in any spelling resolvers accept."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # inet_aton reads the old forms too: 127.1, 0x7f000001, 2130706433, 0177.0.0.1.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_callback_url(
    url: str, allowed_hosts: frozenset[str], allowed_networks: tuple[IPNetwork, ...] = ()
) -> str:
    """`url` if it may be called back, else CallbackRejected (400).

    An http(s) URL with a host and without user info, at most MAX_URL_LENGTH characters, whose
    host is no internal address or name (see the module's docstring). `allowed_hosts` empty
    allows any other host; otherwise the host must be one of them, ignoring case, where an entry
    with a leading dot (".example.org") allows that domain and all its subdomains.
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
    address = literal_address(host)
    if not (HOST_NAME.fullmatch(host) or address is not None):
        raise CallbackRejected("the callback URL's host must be a DNS name (IDNs in punycode) or an IP")
    if allowed_hosts and not _host_allowed(host, allowed_hosts):
        raise CallbackRejected(f"callbacks to {host} are not allowed (CALLBACK_ALLOWED_HOSTS)")
    if address is not None and not address_allowed(address, allowed_networks):
        raise CallbackRejected(_internal(host))
    if address is None and not allowed_networks and _host_allowed(host.rstrip("."), INTERNAL_NAMES):
        raise CallbackRejected(_internal(host))
    return url


def _internal(host: str) -> str:
    return (
        f"callbacks to {host} are refused: it is a loopback, private, link-local or otherwise "
        "internal address (an operator can allow networks with CALLBACK_ALLOWED_NETWORKS)"
    )


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
        allowed_networks: tuple[IPNetwork, ...] = (),
        resolver: Resolver | None = None,
        timeout_s: float = 10.0,
        attempts: int = 5,
        first_delay_s: float = 1.0,
        max_delay_s: float = 60.0,
    ) -> None:
        self._allowed_networks = allowed_networks
        self._resolve = resolver or _getaddrinfo
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
                try:
                    problem = await self._attempt(url, body)
                except CallbackRejected as exc:
                    log.error("callback for task %s not sent: %s", task_id, exc.message)
                    return
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
        except (TimeoutError, httpx.TimeoutException):
            return f"no answer within {self._timeout_s:g} s"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return None if 200 <= status < 300 else f"HTTP {status}"

    async def _post(self, url: str, body: bytes) -> int:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        address = await self._checked_address(host, port)
        netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        # To the address just checked, not to the name again: DNS may answer differently now.
        target = parts._replace(netloc=netloc).geturl()
        headers = {"Host": parts.netloc}
        extensions = {"sni_hostname": host} if literal_address(host) is None else {}
        # Streamed so that the answer's body, which nobody needs, is never read into memory.
        async with self._client.stream(
            "POST", target, content=body, headers=headers, extensions=extensions
        ) as response:
            return response.status_code

    async def _checked_address(self, host: str, port: int) -> str:
        """An address `host` resolves to now; CallbackRejected if any of them is internal."""
        literal = literal_address(host)
        addresses = [str(literal)] if literal is not None else await self._resolve(host, port)
        if not addresses:
            raise httpx.ConnectError(f"{host} does not resolve")
        for address in addresses:
            if not address_allowed(ipaddress.ip_address(address), self._allowed_networks):
                raise CallbackRejected(_internal(f"{host} ({address})"))
        return addresses[0]

    def _finished(self, delivery: asyncio.Task[None]) -> None:
        self._deliveries.discard(delivery)
        if not delivery.cancelled() and (error := delivery.exception()) is not None:
            log.error("callback delivery failed unexpectedly", exc_info=error)


async def _getaddrinfo(host: str, port: int) -> list[str]:
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"{host} does not resolve: {exc.strerror}") from exc
    return [str(info[4][0]) for info in found]


def _where(url: str) -> str:
    """The URL without its query: callback URLs often carry a secret token there."""
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl()
