"""A bad day in operations, on the real server: a stopped decoder, a full disk, cancelling, a
deleted or corrupt database. Nothing accepted is lost, and the HTTP side keeps answering."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import STEP_DEADLINE_S, start_server, wait_for_task
from tests.support.speech import PARAGRAPHS, speak, word_error_rate

pytestmark = pytest.mark.slow

MIB = 1024 * 1024


def upload(client: httpx.Client, path: Path, **fields: str) -> httpx.Response:
    with path.open("rb") as audio:
        return client.post("/api/v1/transcribe", files={"file": (path.name, audio)}, data=fields)


def decoder_status(client: httpx.Client) -> dict[str, Any]:
    return client.get("/api/v1/decoder_status").json()  # type: ignore[no-any-return]


def poll(check: Any, what: str, deadline_s: float = STEP_DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {deadline_s} s"
        time.sleep(0.1)


def new_decoder_ready(client: httpx.Client, old_pid: int) -> bool:
    """Whether a decoder other than `old_pid` runs and the server takes work again."""
    answer = client.get("/readyz", timeout=1)
    return answer.status_code == 200 and decoder_status(client).get("pid") not in (None, old_pid)


def status_of(client: httpx.Client, task_id: str) -> str:
    answer = client.get(f"/api/v1/tasks/{task_id}")
    return str(answer.json()["status"]) if answer.status_code == 200 else "gone"


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All paragraphs in one file: long enough to be caught decoding."""
    return speak(" ".join(PARAGRAPHS), tmp_path_factory.mktemp("failing") / "long.wav")


def test_a_stopped_decoder_with_a_full_pipe_never_stalls_http_and_is_replaced(
    tmp_path: Path, model_dir: Path
) -> None:
    server = start_server(tmp_path / "home", model_dir, DECODER_WATCHDOG_S="20")
    short = speak("Short and sweet.", tmp_path / "short.wav")
    try:
        with server.client() as client:
            old_pid = decoder_status(client)["pid"]
            os.kill(old_pid, signal.SIGSTOP)
            slowest = 0.0
            task_ids: list[str] = []
            # 41 tasks with 4 KiB prompts: far more than the pipe buffers (64 KiB). Short audio
            # and a prompt of plain words, so that decoding them all afterwards is quick.
            prompt = (" ".join(PARAGRAPHS) * 2)[:4096]
            for _ in range(41):
                answer = upload(client, short, initial_prompt=prompt)
                if answer.status_code == 503 and len(task_ids) > 20:
                    break  # on a slow machine the watchdog may act before all 41 are in
                assert answer.status_code == 200, answer.text
                task_ids.append(answer.json()["task_id"])
                started = time.monotonic()
                assert client.get("/healthz", timeout=1).status_code == 200
                slowest = max(slowest, time.monotonic() - started)
            assert slowest < 1.0

            def not_ready() -> bool:
                started = time.monotonic()
                answer = client.get("/readyz", timeout=1)
                assert time.monotonic() - started < 1.0
                return answer.status_code == 503

            poll(not_ready, "/readyz saying not ready", 60)

            poll(lambda: new_decoder_ready(client, old_pid), "a new decoder", 120)
            with contextlib.suppress(ProcessLookupError):
                os.kill(old_pid, signal.SIGCONT)
            # Nothing was lost: every task is decoded by the new decoder.
            for task_id in task_ids:
                assert wait_for_task(client, task_id, 600)["status"] == "finished"
            assert client.get("/readyz").status_code == 200
        assert "has not answered" in server.log_file.read_text()
    finally:
        server.stop()


def test_cancelling_a_decoding_task_stops_it_and_a_decoder_kill_does_not_redo_it(
    tmp_path: Path, model_dir: Path, long_speech: Path
) -> None:
    server = start_server(tmp_path / "home", model_dir, LOG_PRIVACY_MODE="0")
    try:
        with server.client() as client:
            # Between windows: the decoder stops the task itself within seconds.
            first = upload(client, long_speech).json()["task_id"]
            poll(lambda: status_of(client, first) == "processing", "processing")
            assert client.delete(f"/api/v1/tasks/{first}").status_code == 202
            cancelled_at = time.monotonic()
            poll(lambda: status_of(client, first) == "gone", "the cancelled task leaving", 30)
            poll(lambda: not decoder_status(client)["currently_busy"], "the decoder going idle", 30)
            print(f"stopped {time.monotonic() - cancelled_at:.1f} s after DELETE")

            # A decoder that cannot stop it (stopped), then killed: the task must not come back.
            second = upload(client, long_speech).json()["task_id"]
            poll(lambda: status_of(client, second) == "processing", "processing")
            pid = decoder_status(client)["pid"]
            os.kill(pid, signal.SIGSTOP)
            assert client.delete(f"/api/v1/tasks/{second}").status_code == 202
            os.killpg(pid, signal.SIGKILL)
            poll(lambda: new_decoder_ready(client, pid), "a new decoder")
            third = upload(client, long_speech).json()["task_id"]
            assert wait_for_task(client, third, 600)["status"] == "finished"
            assert status_of(client, second) == "gone"
        log = server.log_file.read_text()
        assert "stopping task" in log and log.count(f"decoding task {second}") == 1
        assert log.count(f"decoding task {first}") == 1
    finally:
        server.stop()


@contextlib.contextmanager
def small_filesystem(path: Path, size_mb: int) -> Iterator[Path]:
    path.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)], check=False
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (MIB, 4096, 1):
            try:
                while True:
                    os.write(descriptor, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(descriptor)
    return filler


def test_a_full_disk_gives_507_and_every_accepted_job_finishes_once_space_returns(
    tmp_path: Path, model_dir: Path, speech_dir: Path, long_speech: Path
) -> None:
    with small_filesystem(tmp_path / "data", 48) as data:
        server = start_server(tmp_path / "home", model_dir, DATA_DIR=str(data), DECODER_WATCHDOG_S="600")
        try:
            with server.client() as client:
                first = upload(client, long_speech).json()["task_id"]
                poll(lambda: status_of(client, first) == "processing", "processing")
                pid = decoder_status(client)["pid"]
                os.kill(pid, signal.SIGSTOP)
                waiting = [upload(client, speech_dir / f"paragraph{i}.wav").json()["task_id"] for i in (1, 2)]
                filler = fill(data)
                refused = upload(client, speech_dir / "paragraph3.wav")
                assert refused.status_code in (503, 507), refused.text
                assert refused.json()["error"]["code"] in ("insufficient_storage", "storage_unavailable")
                assert "Retry-After" in refused.headers and str(data) not in refused.text
                poll(lambda: client.get("/readyz").status_code == 503, "/readyz saying not ready", 30)
                # The decoder dies with a task in hand while nothing can be written: the requeue
                # and the results wait for the disk instead of being dropped.
                os.killpg(pid, signal.SIGKILL)
                poll(lambda: decoder_status(client).get("pid") not in (None, pid), "a new decoder")
                poll(lambda: decoder_status(client).get("max_model_to_use") is not None, "it is up")
                assert client.get(f"/api/v1/tasks/{first}").status_code == 200
                filler.unlink()
                for task_id, paragraph in zip([first, *waiting], [None, 1, 2], strict=True):
                    ended = wait_for_task(client, task_id, 600)
                    assert ended["status"] == "finished", ended
                    if paragraph is not None:
                        assert word_error_rate(PARAGRAPHS[paragraph], ended["transcript"]) <= 0.10
                poll(lambda: client.get("/readyz").status_code == 200, "/readyz ready again", 30)
                assert upload(client, speech_dir / "paragraph3.wav").status_code == 200
            log = server.log_file.read_text()
            assert "waits for the job store" in log
        finally:
            server.stop()


def test_a_database_deleted_while_running_loses_nothing(
    tmp_path: Path, model_dir: Path, speech_dir: Path
) -> None:
    home = tmp_path / "home"
    server = start_server(home, model_dir)
    try:
        with server.client() as client:
            finished = upload(client, speech_dir / "paragraph0.wav").json()["task_id"]
            assert wait_for_task(client, finished, 300)["status"] == "finished"
            for path in server.data_dir.glob("jobs.sqlite3*"):
                path.unlink()
            poll(lambda: (server.data_dir / "jobs.sqlite3").exists(), "the database written again", 30)
    finally:
        server.stop()
    again = start_server(home, model_dir)
    try:
        with again.client() as client:
            assert client.get(f"/api/v1/tasks/{finished}").json()["status"] == "finished"
    finally:
        again.stop()


def test_a_corrupt_database_stops_start_up_with_one_line(tmp_path: Path, model_dir: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "jobs.sqlite3").write_bytes(os.urandom(64 * 1024))
    started = subprocess.run(
        [sys.executable, "-m", "whisper_api"],
        env={**os.environ, "DATA_DIR": str(data), "LOG_DIR": str(tmp_path), "MODEL_DIR": str(model_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 1
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot use the job database" in lines[0], started.stderr
