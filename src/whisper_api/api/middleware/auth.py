"""Who is asking, and whether they may: API keys and identities from a trusted proxy.

- With API_KEYS (or API_KEYS_FILE) set, every route but the public ones needs
  `Authorization: Bearer <key>`; without it the answer is 401. Tasks belong to the key that
  created them (to a hash of it: keys are never stored). Clients that cannot set a header
  (Bazarr, subgen-style tools) put the key in the server URL's userinfo instead
  (`http://whisper:<key>@host:3001`), which HTTP clients send as Basic auth: its password, or
  its user name where the password is empty, is the key. A browser's WebSocket cannot set a
  header either: `/v1/realtime` also takes the key as the subprotocol
  `openai-insecure-api-key.<key>`, as OpenAI's browser clients offer it; a WebSocket without a
  key is refused with the same 401 before its handshake completes.
- Model management (`/api/v1/models`) needs more: a key of ADMIN_API_KEYS, or, where none is
  set, a request from this machine. An admin key is also accepted wherever an API key is; setting
  only admin keys leaves the other routes open.
- An authenticating proxy may name the user with X-Email / X-User. Those headers are believed
  only from TRUSTED_PROXIES; from anyone else they are ignored. Without keys, the proxy's user
  owns the tasks: "email:<address>" where it sent X-Email, else "user:<name>". The two are
  separate name spaces, so that `X-User: alice@x` never reads the tasks of `X-Email: alice@x`.
- A browser names the page that opens a WebSocket in its Origin header. One from a page of
  another origin than the server's own (the Host it asked for), and not in ALLOWED_ORIGINS, is
  refused with 403 before its handshake completes: without it, any site a user visits could
  open a live session on a server without keys. A client that sends no Origin is not a browser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from whisper_api.api.contract import PAGE_FILES
from whisper_api.api.errors import error_response
from whisper_api.settings import Settings

# Liveness, readiness and the page's files and documents a browser loads before it has a key.
PUBLIC_PATHS = frozenset({*PAGE_FILES, "/healthz", "/readyz", "/docs", "/openapi.json"})
PUBLIC_PREFIXES = ("/static/",)
# The subprotocol prefix that carries a browser WebSocket's key, and the close code refusing it.
KEY_SUBPROTOCOL = "openai-insecure-api-key."
WS_POLICY_VIOLATION = 1008
# Headers that mark a request as passed on by a proxy (identity or forwarding headers).
PROXY_HEADERS = ("x-email", "x-user", "x-forwarded-for", "forwarded", "x-real-ip")


@dataclass(frozen=True)
class Identity:
    # Whose tasks these are: "key:<hash>", "email:<address>", "user:<name>", or "" for anonymous.
    owner: str
    user: str | None = None
    email: str | None = None
    # The request came directly from this machine, through no proxy.
    local: bool = False
    # It may manage models: it sent an admin key, or it is local where no admin key is set.
    admin: bool = False


def identity_of(request: Request) -> Identity:
    """The identity AuthMiddleware found for this request."""
    identity: Identity = request.state.identity
    return identity


class AuthMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._key_digests = [_digest(key) for key in settings.accepted_keys]
        self._admin_digests = [_digest(key) for key in settings.admin_api_keys]
        self._origins = frozenset(origin.rstrip("/") for origin in settings.allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        if scope["type"] == "websocket" and not self._origin_allowed(connection):
            response = error_response(
                403,
                "origin_not_allowed",
                "this server does not take WebSockets from pages of this origin; its operator may "
                "name it in ALLOWED_ORIGINS",
            )
            await _deny(WebSocket(scope, receive, send), response)
            return
        offered = [connection.headers.get("authorization", "")]
        if scope["type"] == "websocket":
            offered.append(f"Bearer {_subprotocol_key(connection)}")
        admin_owner = _first(self._key_owner(each, self._admin_digests) for each in offered)
        key_owner = admin_owner or _first(self._key_owner(each, self._key_digests) for each in offered)
        if self._key_digests and not _is_public(connection.url.path) and key_owner is None:
            response = error_response(
                401,
                "unauthorized",
                "this server needs an API key: send it as 'Authorization: Bearer <key>', "
                "or as the password in the server URL (http://user:<key>@host/)",
                headers={"WWW-Authenticate": 'Bearer realm="whisper-api"'},
            )
            if scope["type"] == "websocket":
                await _deny(WebSocket(scope, receive, send), response)
            else:
                await response(scope, receive, send)
            return
        identity = self._identify(connection, key_owner)
        if admin_owner is not None or (not self._admin_digests and identity.local):
            identity = replace(identity, admin=True)
        scope.setdefault("state", {})["identity"] = identity
        await self.app(scope, receive, send)

    def _origin_allowed(self, connection: HTTPConnection) -> bool:
        origin = connection.headers.get("origin")
        if origin is None or "*" in self._origins:
            return True
        origin = origin.strip().lower().rstrip("/")
        if origin in self._origins:
            return True
        own = connection.headers.get("host", "").lower()
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and bool(own) and parts.netloc == own

    def _key_owner(self, authorization: str, digests: list[str]) -> str | None:
        scheme, _, credentials = authorization.partition(" ")
        key = credentials.strip()
        if scheme.lower() == "basic":
            key = _basic_auth_key(key)
        elif scheme.lower() != "bearer":
            return None
        if not key or not digests:
            return None
        digest = _digest(key)
        # Every key is compared, in constant time, so timing tells nothing about which matched.
        matched = [hmac.compare_digest(digest, known) for known in digests]
        return f"key:{digest[:16]}" if any(matched) else None

    def _identify(self, request: HTTPConnection, key_owner: str | None) -> Identity:
        host = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        trusted = address is not None and any(address in network for network in self.settings.trusted_proxies)
        email = request.headers.get("x-email", "").strip().lower() or None if trusted else None
        user = request.headers.get("x-user", "").strip() or None if trusted else None
        # Through a proxy on this host every request comes from loopback; proxies say so.
        proxied = any(name in request.headers for name in PROXY_HEADERS)
        local = address is not None and address.is_loopback and not proxied
        proxy_owner = f"email:{email}" if email else f"user:{user}" if user else ""
        return Identity(owner=key_owner or proxy_owner, user=user, email=email, local=local)


def _first(owners: Iterable[str | None]) -> str | None:
    return next(filter(None, owners), None)


def _subprotocol_key(connection: HTTPConnection) -> str:
    """The key a browser's WebSocket offers as the subprotocol `openai-insecure-api-key.<key>`
    (what OpenAI's browser clients send; a browser cannot set Authorization on a WebSocket)."""
    offered = (name.strip() for name in connection.headers.get("sec-websocket-protocol", "").split(","))
    return next((name[len(KEY_SUBPROTOCOL) :] for name in offered if name.startswith(KEY_SUBPROTOCOL)), "")


async def _deny(websocket: WebSocket, response: Response) -> None:
    """Refuse a WebSocket's handshake with the HTTP error, where the server can send one."""
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:
        await websocket.close(code=WS_POLICY_VIOLATION, reason="unauthorized: this server needs an API key")


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _basic_auth_key(credentials: str) -> str:
    """The key in Basic auth's "user:password": the password, else the user name ("" if none)."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    user, _, password = decoded.partition(":")
    return (password or user).strip()


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
