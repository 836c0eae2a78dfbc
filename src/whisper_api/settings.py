"""The server's settings: one frozen object, built once from the environment after `.env`.

Names, meanings and defaults follow the seed's settings table. A bad value raises
SettingsError with one line naming the variable and what it accepts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import TypeVar

from dotenv import find_dotenv, load_dotenv

from decoder.engines import COMPUTE_TYPES, ENGINE_NAMES
from decoder.models import model_names

T = TypeVar("T")
IPNetwork = IPv4Network | IPv6Network

DEFAULT_LOG_FORMAT = "[{asctime}] [{levelname}][{processName}][{threadName}][{module}.{funcName}] {message}"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ROTATION_WHEN = ("S", "M", "H", "D", "midnight", *(f"W{day}" for day in range(7)))


class SettingsError(Exception):
    """A setting has a value the server cannot use; the message is one line for the operator."""


@dataclass(frozen=True)
class Settings:
    port: int = 3001
    listen: str = "127.0.0.1"
    load_model_on_startup: bool = True
    develop_mode: bool = False
    unload_model_after_s: int | None = None
    delete_results_after_m: int = 60
    refresh_expiration_time_on_usage: bool = True
    run_result_expiry_check_m: int = 5
    use_gpu_if_available: bool = True
    max_model: str | None = None
    max_task_queue_size: int = 128
    cpu_fallback_model: str = "medium"
    log_dir: Path = Path("data")
    log_file: str = "whisper_api.log"
    log_level_console: str = "INFO"
    log_level_file: str = "INFO"
    log_format: str = DEFAULT_LOG_FORMAT
    log_date_format: str = "%d.%m. %H:%M:%S"
    log_rotation_when: str = "H"
    log_rotation_interval: int = 2
    log_rotation_backup_count: int = 48
    log_privacy_mode: bool = True
    log_authorized_mails: frozenset[str] = frozenset()
    callback_allowed_hosts: frozenset[str] = frozenset()
    # Bearer keys, from API_KEYS and the lines of API_KEYS_FILE; empty: no keys needed.
    api_keys: frozenset[str] = frozenset()
    # Only requests from these networks may name a user with X-Email / X-User.
    trusted_proxies: tuple[IPNetwork, ...] = (ip_network("127.0.0.1/32"), ip_network("::1/128"))
    max_upload_mb: int = 1024
    shutdown_grace_s: int = 30
    model_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "whisper")
    data_dir: Path = Path("data")
    engine: str = "openai-whisper"
    compute_type: str = "auto"
    vad_filter: bool = False
    cpu_threads: int = 0
    batch_size: int = 1
    ffmpeg_timeout_s: int = 600
    decoder_watchdog_s: int = 60
    upload_timeout_s: int = 30
    min_upload_kib_per_s: int = 4
    max_concurrent_uploads: int = 16
    # Internal networks callbacks may reach; every other non-public address is refused.
    callback_allowed_networks: tuple[IPNetwork, ...] = ()

    @property
    def log_path(self) -> Path:
        return self.log_dir / self.log_file

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        read = _Reader(environ)
        cache_home = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        engine, compute_type, vad_filter, batch_size = _engine_settings(read)
        return cls(
            port=read("PORT", 3001, _int_in(1, 65535)),
            listen=read("LISTEN", "127.0.0.1", _text),
            load_model_on_startup=read("LOAD_MODEL_ON_STARTUP", True, _bool),
            develop_mode=read("DEVELOP_MODE", False, _bool),
            unload_model_after_s=read("UNLOAD_MODEL_AFTER_S", None, _int_in(0)),
            delete_results_after_m=read("DELETE_RESULTS_AFTER_M", 60, _int_in(0)),
            refresh_expiration_time_on_usage=read("REFRESH_EXPIRATION_TIME_ON_USAGE", True, _bool),
            run_result_expiry_check_m=read("RUN_RESULT_EXPIRY_CHECK_M", 5, _int_in(0)),
            use_gpu_if_available=read("USE_GPU_IF_AVAILABLE", True, _bool),
            max_model=read("MAX_MODEL", None, _model),
            max_task_queue_size=read("MAX_TASK_QUEUE_SIZE", 128, _int_in(1)),
            cpu_fallback_model=read("CPU_FALLBACK_MODEL", "medium", _model),
            # The seed's "" means "this directory".
            log_dir=Path(environ.get("LOG_DIR", "data/") or "."),
            log_file=read("LOG_FILE", "whisper_api.log", _text),
            log_level_console=read("LOG_LEVEL_CONSOLE", "INFO", _one_of(LOG_LEVELS, upper=True)),
            log_level_file=read("LOG_LEVEL_FILE", "INFO", _one_of(LOG_LEVELS, upper=True)),
            log_format=read("LOG_FORMAT", DEFAULT_LOG_FORMAT, _log_format),
            log_date_format=read("LOG_DATE_FORMAT", "%d.%m. %H:%M:%S", _text),
            log_rotation_when=read("LOG_ROTATION_WHEN", "H", _one_of(ROTATION_WHEN)),
            log_rotation_interval=read("LOG_ROTATION_INTERVAL", 2, _int_in(1)),
            log_rotation_backup_count=read("LOG_ROTATION_BACKUP_COUNT", 48, _int_in(0)),
            log_privacy_mode=read("LOG_PRIVACY_MODE", True, _bool),
            log_authorized_mails=read("LOG_AUTHORIZED_MAILS", frozenset(), _mail_set),
            callback_allowed_hosts=read("CALLBACK_ALLOWED_HOSTS", frozenset(), _host_set),
            api_keys=read("API_KEYS", frozenset[str](), _key_set)
            | read("API_KEYS_FILE", frozenset[str](), _key_file),
            trusted_proxies=read("TRUSTED_PROXIES", cls.trusted_proxies, _networks),
            max_upload_mb=read("MAX_UPLOAD_MB", 1024, _int_in(1)),
            shutdown_grace_s=read("SHUTDOWN_GRACE_S", 30, _int_in(0)),
            model_dir=Path(environ.get("MODEL_DIR") or Path(cache_home) / "whisper").expanduser(),
            data_dir=Path(environ.get("DATA_DIR") or "data").expanduser(),
            engine=engine,
            compute_type=compute_type,
            vad_filter=vad_filter,
            cpu_threads=read("CPU_THREADS", 0, _int_in(0)),
            batch_size=batch_size,
            ffmpeg_timeout_s=read("FFMPEG_TIMEOUT_S", 600, _int_in(1)),
            decoder_watchdog_s=read("DECODER_WATCHDOG_S", 60, _int_in(2)),
            upload_timeout_s=read("UPLOAD_TIMEOUT_S", 30, _int_in(1)),
            min_upload_kib_per_s=read("MIN_UPLOAD_KIB_PER_S", 4, _int_in(0)),
            max_concurrent_uploads=read("MAX_CONCURRENT_UPLOADS", 16, _int_in(1)),
            callback_allowed_networks=read("CALLBACK_ALLOWED_NETWORKS", (), _networks),
        )


def load_settings() -> Settings:
    """Settings from the process environment, after a `.env` found from the working directory.

    Variables already set in the environment win over `.env`, as python-dotenv does by default.
    """
    load_dotenv(find_dotenv(usecwd=True))
    return Settings.from_environ(os.environ)


def _engine_settings(read: _Reader) -> tuple[str, str, bool, int]:
    engine = read("ENGINE", "openai-whisper", _one_of(ENGINE_NAMES))
    compute_type = read("COMPUTE_TYPE", "auto", _one_of(COMPUTE_TYPES))
    vad_filter = read("VAD_FILTER", False, _bool)
    batch_size = read("BATCH_SIZE", 1, _int_in(1))
    if engine == "openai-whisper" and compute_type == "int8":
        raise SettingsError(
            "COMPUTE_TYPE='int8' is not valid: openai-whisper has no int8; use ENGINE=faster-whisper"
        )
    if engine == "openai-whisper" and vad_filter:
        raise SettingsError("VAD_FILTER=1 is not valid: only ENGINE=faster-whisper filters by voice activity")
    if engine == "openai-whisper" and batch_size > 1:
        raise SettingsError(
            f"BATCH_SIZE={batch_size} is not valid: only ENGINE=faster-whisper decodes in batches"
        )
    return engine, compute_type, vad_filter, batch_size


class _Reader:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def __call__(self, name: str, default: T, parse: Callable[[str], T]) -> T:
        raw = self._environ.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            raise SettingsError(f"{name}={raw!r} is not valid: expected {exc}") from None


def _int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    accepted = f"a whole number from {low} to {high}" if high else f"a whole number ≥ {low}"

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(accepted) from None
        if value < low or (high is not None and value > high):
            raise ValueError(accepted)
        return value

    return parse


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("1 (yes) or 0 (no)")


def _model(raw: str) -> str:
    if raw not in model_names():
        raise ValueError(f"an official model name: {', '.join(model_names())}")
    return raw


def _one_of(choices: tuple[str, ...], *, upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.upper() if upper else raw
        if value not in choices:
            raise ValueError(f"one of {', '.join(choices)}")
        return value

    return parse


def _text(raw: str) -> str:
    return raw


def _log_format(raw: str) -> str:
    try:
        logging.Formatter(raw, style="{").format(logging.makeLogRecord({"msg": "probe"}))
    except (ValueError, KeyError, AttributeError) as exc:
        raise ValueError(f"a '{{'-style logging format ({exc})") from None
    return raw


def _mail_set(raw: str) -> frozenset[str]:
    return frozenset(mail.strip().lower() for mail in raw.replace(";", ",").split(",") if mail.strip())


def _host_set(raw: str) -> frozenset[str]:
    return frozenset(host.strip().lower() for host in raw.split(",") if host.strip())


def _key_set(raw: str) -> frozenset[str]:
    return frozenset(key.strip() for key in raw.split(",") if key.strip())


def _key_file(raw: str) -> frozenset[str]:
    try:
        lines = Path(raw).expanduser().read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"a readable file with one key per line ({exc.strerror})") from None
    return frozenset(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


def _networks(raw: str) -> tuple[IPNetwork, ...]:
    if raw.strip().lower() == "none":
        return ()
    try:
        return tuple(ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ValueError(
            "IP addresses or networks separated by commas (e.g. 127.0.0.1,10.0.0.0/8), or none"
        ) from None
