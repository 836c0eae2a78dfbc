"""The documents that list settings stay in step with the settings the server reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_SOURCE = ROOT / "src" / "whisper_api" / "settings.py"


def variables_read() -> set[str]:
    source = SETTINGS_SOURCE.read_text()
    return set(re.findall(r'(?:read\(|environ\.get\()"([A-Z_]+)"', source)) - {"XDG_CACHE_HOME"}


def table_variables(document: Path) -> set[str]:
    return set(re.findall(r"^\| `([A-Z_]+)` \|", document.read_text(), re.MULTILINE))


def test_the_pattern_finds_the_settings() -> None:
    assert {"PORT", "MAX_MODEL", "API_KEYS_FILE", "LOG_DIR", "MODEL_DIR"} <= variables_read()


@pytest.mark.parametrize("document", ["README.md", "docs/configuration.md"])
def test_every_setting_is_documented_and_nothing_else(document: str) -> None:
    assert table_variables(ROOT / document) == variables_read()
