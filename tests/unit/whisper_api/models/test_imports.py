from __future__ import annotations

from pathlib import Path

import pytest

from whisper_api.jobs.errors import Refused
from whisper_api.models.imports import ModelImport, check_source

DIGEST = "ab" * 32


@pytest.mark.parametrize(
    "source",
    ["openai", f"https://mirror.example/models/{DIGEST}/tiny.pt", "hf:Systran/faster-whisper-tiny"],
)
def test_sources_an_import_reads(source: str) -> None:
    check_source("tiny", source)


def test_a_directory_on_the_server_is_a_source(tmp_path: Path) -> None:
    check_source("tiny", str(tmp_path))
    with pytest.raises(Refused, match="source must be"):
        check_source("tiny", str(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("name", "source", "message"),
    [
        ("tiny", "https://mirror.example/models/tiny.pt", "source must be"),
        ("tiny", f"ftp://mirror.example/{DIGEST}/tiny.pt", "source must be"),
        ("tiny", "hf:no-owner", "source must be"),
        ("tiny", "models/tiny", "source must be"),
        ("mine", "openai", "no official Whisper model name"),
    ],
)
def test_other_sources_and_names_are_refused(name: str, source: str, message: str) -> None:
    with pytest.raises(Refused, match=message):
        check_source(name, source)


def test_an_import_is_shown_with_its_times_as_iso() -> None:
    shown = ModelImport("id", "tiny", "openai", started_at=0.0).json()
    assert shown["started_at"] == "1970-01-01T00:00:00+00:00" and shown["finished_at"] is None
    assert shown["status"] == "running" and shown["paths"] == []
