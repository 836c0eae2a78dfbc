"""A real server on a loopback port, as the tests and the benchmarks start it, and the deadlines
they wait with."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support.ports import free_port

SERVER_START_DEADLINE_S = 180.0
# Sanity bounds, never timing targets (those live in bench/): generous enough that a machine
# busy with other work still passes, for a test that fails only on a slow machine proves nothing.
DECODE_DEADLINE_S = 600.0  # a task, from upload to its end
STEP_DEADLINE_S = 300.0  # one step: a task starting to decode, a decoder coming back, a delivery
# The shared servers call back test receivers on loopback, which callbacks reach only if allowed.
LOOPBACK_CALLBACKS = {"CALLBACK_ALLOWED_NETWORKS": "127.0.0.0/8"}
REPO_ROOT = Path(__file__).resolve().parents[2]
# prctl(2): the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def add_speaker_encoder(directory: Path) -> None:
    """The speaker encoder in MODEL_DIR, as `whisper-api ensure-model` puts it there."""
    from decoder.model_import.packaged import packaged_encoder
    from decoder.wire.speaker_files import encoder_path

    source = packaged_encoder()
    assert source is not None, "resemblyzer is not installed: make test installs it"
    encoder_path(directory).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, encoder_path(directory))


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

        Each decoder runs in a process group of its own; the upload checkers, in theirs, exit
        when the front end's end of their pipes closes.
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


# Every server start_server started, so that none outlives the test that started it
# (tests/conftest.py stops those a test left running).
started: list[RunningServer] = []


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
        # One decoder, whatever the machine's CPUs: the tests of order and queue positions
        # assume one, and a second model load per server would cost CI's two cores. The tests
        # of the placement, and the bench's servers as `make run` starts them, set DECODERS.
        "DECODERS": "1",
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
    started.append(server)
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
