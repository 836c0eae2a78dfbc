"""The settings of several hosts on one queue: the shared database, the claims' leases, what
each host does (ROLE), how a worker stops (DRAIN_S) and where the uploads wait (MEDIA_STORE).
Settings (whisper_api.settings) takes them in; the table lists them after the host's own
settings and before the log settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from whisper_api.settings.kinds import POSTGRES_URL, one_of, whole
from whisper_api.settings.rows import setting


class MediaStore(StrEnum):
    DATA_DIR = "data-dir"  # files in DATA_DIR, which hosts sharing a queue must share
    DATABASE = "database"  # large objects in the PostgreSQL of DATABASE_URL


class Role(StrEnum):
    ALL = "all"  # HTTP and decoders: a host of its own, or one of several alike
    API = "api"  # HTTP only: uploads and answers, no decoder process
    WORKER = "worker"  # decoders only: no public HTTP, only /healthz, /readyz and /metrics


@dataclass(frozen=True)
class ClusterSettings:
    database_url: str | None = setting(
        "DATABASE_URL",
        None,
        POSTGRES_URL,
        (
            "keep the jobs in this PostgreSQL database instead of the SQLite file, so that several hosts "
            "can share them (see docs/deployment.md)"
        ),
        shown="unset (SQLite in `DATA_DIR`)",
    )
    lease_s: int = setting(
        "LEASE_S",
        30,
        whole(5),
        (
            "with `DATABASE_URL`: seconds a host's claim on a job lasts unless it renews it; the jobs of a "
            "host that disappears go to another host after this long"
        ),
    )
    role: str = setting(
        "ROLE",
        Role.ALL.value,
        one_of(tuple(role.value for role in Role)),
        (
            "what this host does: `all` serves HTTP and decodes; with `DATABASE_URL`, `api` serves HTTP "
            "and runs no decoder, and `worker` decodes and serves only `/healthz`, `/readyz` and `/metrics`"
        ),
    )
    drain_s: int | None = setting(
        "DRAIN_S",
        None,
        whole(0),
        (
            "with `DATABASE_URL`: on SIGTERM, how long this host's decoders may finish the tasks they hold; "
            "it claims no more meanwhile, gives back at once the tasks not started, and hands what still "
            "runs then straight to another host"
        ),
        values="whole number ≥ 0, or unset (`SHUTDOWN_GRACE_S`)",
    )
    media_store: str = setting(
        "MEDIA_STORE",
        MediaStore.DATA_DIR.value,
        one_of(tuple(store.value for store in MediaStore)),
        (
            "where uploads wait to be decoded: `data-dir` keeps them in `DATA_DIR` (which hosts sharing "
            "`DATABASE_URL` must then share); `database` keeps them in that PostgreSQL, so that hosts "
            "share nothing else (see docs/deployment.md)"
        ),
    )
