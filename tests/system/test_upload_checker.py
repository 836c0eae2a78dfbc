"""The upload check's processes on the real server: no program starts per upload, and a checker
killed in the middle of a check costs that upload a 503, not the server."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import REPO_ROOT, STEP_DEADLINE_S, start_server, wait_for_task
from tests.support.speech import PARAGRAPHS, speak

pytestmark = pytest.mark.slow

AUDIT = Path(__file__).resolve().parents[1] / "support" / "process_audit"
# What /proc/PID/comm shows of a checker (decoder.checking.service.PROCESS_NAME).
CHECKER_NAME = "upload-check"


def upload(client: httpx.Client, path: Path) -> httpx.Response:
    with path.open("rb") as audio:
        return client.post("/api/v1/transcribe", files={"file": (path.name, audio)})


def checker_pids(server_pid: int) -> set[int]:
    """The server's children named as upload checkers."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text()
            name = (entry / "comm").read_text().strip()
        except (FileNotFoundError, NotADirectoryError, ProcessLookupError, PermissionError):
            continue
        if name == CHECKER_NAME and f"\nPPid:\t{server_pid}\n" in status:
            found.add(int(entry.name))
    return found


def metric(client: httpx.Client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics")


def poll(check: object, what: str) -> None:
    deadline = time.monotonic() + STEP_DEADLINE_S
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not happen within {STEP_DEADLINE_S} s"
        time.sleep(0.05)


def test_no_process_starts_per_upload(tmp_path: Path, model_dir: Path) -> None:
    log = tmp_path / "process_audit.log"
    path = os.pathsep.join([str(AUDIT), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    server = start_server(tmp_path / "home", model_dir, PYTHONPATH=path, PROCESS_AUDIT_LOG=str(log))
    clips = [speak(PARAGRAPHS[n][:160], tmp_path / f"clip{n}.wav") for n in range(3)]
    (tmp_path / "notes.mp3").write_text("These are meeting notes, not a recording.\n" * 20)
    try:
        with server.client() as client:
            poll(lambda: len(checker_pids(server.process.pid)) == 2, "both checkers running")
            checkers = checker_pids(server.process.pid)
            before = log.read_text().splitlines()
            task_ids = []
            for clip in clips:
                answer = upload(client, clip)
                assert answer.status_code == 200, answer.text
                task_ids.append(answer.json()["task_id"])
            assert upload(client, tmp_path / "notes.mp3").status_code == 400
            for task_id in task_ids:
                assert wait_for_task(client, task_id)["status"] == "finished"
            decoder_pid = client.get("/api/v1/decoder_status").json()["pid"]
            assert checker_pids(server.process.pid) == checkers
    finally:
        server.stop()
    lines = log.read_text().splitlines()
    # The hook ran in the front end, the decoder and both checkers...
    loaded = {int(line.split()[0]) for line in lines if line.split()[1] == "loaded"}
    assert {server.process.pid, decoder_pid} | checkers <= loaded
    # ...and none of them started anything while four uploads were checked and three decoded.
    assert [line for line in lines[len(before) :] if line.split()[1] == "started"] == []


def test_a_checker_killed_mid_check_costs_that_upload_a_503(tmp_path: Path, model_dir: Path) -> None:
    server = start_server(tmp_path / "home", model_dir)
    clip = speak(PARAGRAPHS[0][:160], tmp_path / "clip.wav")
    answers: list[httpx.Response] = []
    try:
        with server.client() as client:
            poll(lambda: len(checker_pids(server.process.pid)) == 2, "both checkers running")
            checkers = checker_pids(server.process.pid)
            # Stopped, the checkers take the upload's request and cannot answer it.
            for pid in checkers:
                os.kill(pid, signal.SIGSTOP)

            def send() -> None:
                with server.client() as sending:
                    answers.append(upload(sending, clip))

            sender = threading.Thread(target=send)
            sender.start()
            poll(lambda: metric(client, "whisper_api_upload_checks") == 1, "the check being sent")
            for pid in checkers:
                os.kill(pid, signal.SIGKILL)
            sender.join(STEP_DEADLINE_S)
            [refused] = answers
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"] == "10"
            assert "the upload check stopped unexpectedly" in refused.json()["error"]["message"]
            assert list((server.data_dir / "uploads").iterdir()) == []
            # The server goes on: the same file is taken, by a checker started again.
            answer = upload(client, clip)
            assert answer.status_code == 200, answer.text
            assert wait_for_task(client, answer.json()["task_id"])["status"] == "finished"
            assert checker_pids(server.process.pid).isdisjoint(checkers)
            assert metric(client, "whisper_api_upload_checker_restarts_total") >= 1
            assert metric(client, "whisper_api_upload_checks") == 0
    finally:
        server.stop()
    assert "the upload checker upload-check-" in server.log_file.read_text()
