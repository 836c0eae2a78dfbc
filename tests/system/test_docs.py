"""The documents stay in step with the code: the settings tables with the settings the server
reads, docs/architecture.md with the modules and packages of the tree."""

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


ARCHITECTURE = ROOT / "docs" / "architecture.md"


def test_every_module_the_architecture_names_exists() -> None:
    named = set(re.findall(r"([\w/]+\.py)\b", ARCHITECTURE.read_text()))
    files = {path.relative_to(ROOT).as_posix() for path in ROOT.glob("[st]*/**/*.py")}
    missing = sorted(name for name in named if not any(f.endswith(f"/{name}") or f == name for f in files))
    assert len(named) > 50
    assert missing == []


def test_every_package_is_in_the_architecture() -> None:
    text = ARCHITECTURE.read_text()
    packages = sorted(
        init.parent.relative_to(ROOT / "src").as_posix() for init in (ROOT / "src").glob("*/**/__init__.py")
    )
    undescribed = [package for package in packages if f"{package.rsplit('/', 1)[-1]}/" not in text]
    assert len(packages) > 15
    assert undescribed == []
