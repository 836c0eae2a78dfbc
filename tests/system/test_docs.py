"""The documents that list settings stay in step with the settings the server reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from whisper_api.settings import rows
from whisper_api.settings.table import markdown_table

ROOT = Path(__file__).resolve().parents[2]


def variables_read() -> set[str]:
    return {row.variable for _, row in rows()}


def table_variables(document: Path) -> set[str]:
    return set(re.findall(r"^\| `([A-Z_]+)` \|", document.read_text(), re.MULTILINE))


def test_the_pattern_finds_the_settings() -> None:
    assert {"PORT", "MAX_MODEL", "API_KEYS_FILE", "LOG_DIR", "MODEL_DIR"} <= variables_read()


@pytest.mark.parametrize("document", ["README.md", "docs/configuration.md"])
def test_every_setting_is_documented_and_nothing_else(document: str) -> None:
    assert table_variables(ROOT / document) == variables_read()


@pytest.mark.parametrize("document", ["README.md", "docs/configuration.md"])
def test_the_configuration_table_is_the_one_the_settings_declare(document: str) -> None:
    """`python -m whisper_api.settings.table` prints the table to paste after a change."""
    assert markdown_table() in (ROOT / document).read_text()
