"""What each kind of setting accepts: a parser, and the words the docs and errors use for it.

A parser raises ValueError naming what it expected; the settings reader turns that into one
line naming the variable (whisper_api.settings.SettingsError).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Generic, TypeVar

from decoder.wire.models import model_names

T = TypeVar("T")
IPNetwork = IPv4Network | IPv6Network


@dataclass(frozen=True)
class Kind(Generic[T]):
    parse: Callable[[str], T]
    # What it accepts, as the configuration table says it.
    values: str


def whole(low: int, high: int | None = None) -> Kind[int]:
    accepted = f"a whole number from {low} to {high}" if high else f"a whole number ≥ {low}"

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(accepted) from None
        if value < low or (high is not None and value > high):
            raise ValueError(accepted)
        return value

    return Kind(parse, f"{low}\u2013{high}" if high else f"whole number ≥ {low}")


def _flag(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("1 (yes) or 0 (no)")


FLAG = Kind(_flag, "`1` / `0`")


def one_of(choices: tuple[str, ...], *, upper: bool = False, values: str | None = None) -> Kind[str]:
    def parse(raw: str) -> str:
        value = raw.upper() if upper else raw
        if value not in choices:
            raise ValueError(f"one of {', '.join(choices)}")
        return value

    return Kind(parse, values or " ".join(f"`{choice}`" for choice in choices))


def text(values: str) -> Kind[str]:
    return Kind(lambda raw: raw, values)


def matching(pattern: re.Pattern[str], values: str) -> Kind[str]:
    """A text that `pattern` matches whole."""

    def parse(raw: str) -> str:
        if not pattern.fullmatch(raw):
            raise ValueError(values)
        return raw

    return Kind(parse, values)


def _official_model(raw: str) -> str:
    if raw not in model_names():
        raise ValueError(f"an official model name: {', '.join(model_names())}")
    return raw


MODEL = Kind(_official_model, "official model name")


def _official_models(raw: str) -> tuple[str, ...]:
    names = [_official_model(word.strip()) for word in raw.split(",") if word.strip()]
    return tuple(dict.fromkeys(names))


MODELS_LIST = Kind(_official_models, "comma-separated official model names")


def _postgres_url(raw: str) -> str:
    if not raw.startswith(("postgresql://", "postgres://")):
        raise ValueError("a postgresql:// URL")
    return raw


POSTGRES_URL = Kind(_postgres_url, "`postgresql://user:password@host:port/database`")


def folder(*, blank: str | None = None) -> Kind[Path]:
    """A path, `~` expanded; `blank` is the folder an empty value names (else it means unset)."""
    return Kind(lambda raw: Path(raw or blank or ".").expanduser(), "folder")


def _log_format(raw: str) -> str:
    try:
        logging.Formatter(raw, style="{").format(logging.makeLogRecord({"msg": "probe"}))
    except (ValueError, KeyError, AttributeError) as exc:
        raise ValueError(f"a '{{'-style logging format ({exc})") from None
    return raw


LOG_FORMAT = Kind(_log_format, "logging format")


def word_list(*, lower: bool, semicolons: bool = False, values: str = "list") -> Kind[frozenset[str]]:
    """Comma-separated words (with `semicolons`, semicolons separate too), blanks dropped."""

    def parse(raw: str) -> frozenset[str]:
        words = (word.strip() for word in (raw.replace(";", ",") if semicolons else raw).split(","))
        return frozenset(word.lower() if lower else word for word in words if word)

    return Kind(parse, values)


def _key_file(raw: str) -> frozenset[str]:
    try:
        lines = Path(raw).expanduser().read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"a readable file with one key per line ({exc.strerror})") from None
    return frozenset(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


KEY_FILE = Kind(_key_file, "path")


def networks(values: str) -> Kind[tuple[IPNetwork, ...]]:
    def parse(raw: str) -> tuple[IPNetwork, ...]:
        if raw.strip().lower() == "none":
            return ()
        try:
            return tuple(ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())
        except ValueError:
            raise ValueError(
                "IP addresses or networks separated by commas (e.g. 127.0.0.1,10.0.0.0/8), or none"
            ) from None

    return Kind(parse, values)
