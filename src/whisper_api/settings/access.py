"""Who may do what: the API keys, the keys that may manage models (ADMIN_API_KEYS), the proxies
whose identity headers are believed and the pages that may open WebSockets. Settings
(whisper_api.settings) takes them in; whisper_api.api.middleware.auth applies them."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_network

from whisper_api.settings.kinds import KEY_FILE, IPNetwork, networks, word_list
from whisper_api.settings.rows import setting


@dataclass(frozen=True)
class AccessSettings:
    api_keys: frozenset[str] = setting(
        "API_KEYS",
        frozenset(),
        word_list(lower=False),
        (
            "Bearer keys, comma-separated; when set (here or in the file), every route but `/`, `/healthz`, "
            "`/readyz`, `/docs` and `/openapi.json` needs `Authorization: Bearer <key>`, and tasks belong to "
            "the key that created them"
        ),
        shown="empty (no keys needed)",
    )
    api_keys_file: frozenset[str] = setting(
        "API_KEYS_FILE",
        frozenset(),
        KEY_FILE,
        "a file with one key per line (`#` starts a comment), added to `API_KEYS`",
        shown="unset",
    )
    trusted_proxies: tuple[IPNetwork, ...] = setting(
        "TRUSTED_PROXIES",
        (ip_network("127.0.0.1/32"), ip_network("::1/128")),
        networks("comma-separated list"),
        "addresses or networks whose `X-Email` / `X-User` headers are believed (`none`: nobody's)",
        shown="`127.0.0.1,::1`",
    )
    admin_api_keys: frozenset[str] = setting(
        "ADMIN_API_KEYS",
        frozenset(),
        word_list(lower=False),
        (
            "Bearer keys, comma-separated, that may also manage models (`/api/v1/models`: import, load, "
            "unload, delete); a key only in `API_KEYS` gets 403 there. Unset: model management answers "
            "only requests from this machine"
        ),
        shown="empty (model management from loopback only)",
    )
    allowed_origins: frozenset[str] = setting(
        "ALLOWED_ORIGINS",
        frozenset(),
        word_list(lower=True, values="comma-separated origins, or `*`"),
        (
            "web pages that may open a WebSocket (`/v1/realtime`) besides the server's own, e.g. "
            "`https://app.example.org`; `*`: any. Clients that send no `Origin` (not browsers) need none"
        ),
        shown="empty (the server's own origin)",
    )

    @property
    def accepted_keys(self) -> frozenset[str]:
        """Every Bearer key: those of API_KEYS and the lines of API_KEYS_FILE; empty: none needed."""
        return self.api_keys | self.api_keys_file
