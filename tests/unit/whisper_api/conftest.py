"""Fixtures for route tests: settings in a temporary folder, the app with a fake decoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.unit.whisper_api.helpers import serving, tone
from whisper_api.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        max_model="base",
        # One scripted decoder: the tests of waiting tasks need one to wait behind.
        decoders=1,
        max_task_queue_size=2,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        log_level_console="CRITICAL",
        # The tests upload one file many times for many tasks; test_dedup turns it back on.
        deduplicate_uploads=False,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with serving(settings) as test_client:
        yield test_client


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    return tone(tmp_path / "tone.wav")
