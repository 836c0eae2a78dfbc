"""How a setting is declared: a Settings field (whisper_api.settings) carries its row of the
configuration table, which names the variable, what it accepts (whisper_api.settings.kinds) and
what it means. The reader, the table and the Nix checks all walk these rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from whisper_api.settings.kinds import Kind

T = TypeVar("T")


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One row of the configuration table."""

    variable: str
    kind: Kind[T]
    meaning: str
    # How the table shows what it accepts and its default, where the kind and the value don't say.
    values: str | None
    shown: str | None
    # An empty value is a value (LOG_DIR="" is the working directory), not "unset".
    blank_is_value: bool
    # A default that depends on the environment (MODEL_DIR on XDG_CACHE_HOME).
    default_from: Callable[[Mapping[str, str]], T] | None

    def accepts(self) -> str:
        return self.values or self.kind.values


def setting(
    variable: str,
    default: T,
    kind: Kind[T] | Kind[Any],
    meaning: str,
    *,
    values: str | None = None,
    shown: str | None = None,
    blank_is_value: bool = False,
    default_from: Callable[[Mapping[str, str]], T] | None = None,
) -> T:
    """A Settings field, declared with its row of the configuration table."""
    row = Setting(variable, kind, meaning, values, shown, blank_is_value, default_from)
    return field(default=default, metadata={"setting": row})
