from __future__ import annotations

import socket
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from tests.unit.whisper_api.helpers import status_of, submit_decoding, wait_until
from whisper_api.jobs.news.readiness import notify_systemd


def test_readiness_flips_when_the_model_has_loaded(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json() == {"ready": False, "reason": "the model is loading"}
    client.get("/api/v1/decoder_status_refresh")
    wait_until(lambda: client.get("/readyz").status_code == 200)
    assert client.get("/readyz").json() == {"ready": True}


def test_systemd_gets_the_datagram(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(tmp_path / "notify"))
        systemd.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        notify_systemd("READY=1")
        assert systemd.recv(64) == b"READY=1"


def metric_samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_move_after_a_task(client: TestClient, audio: Path) -> None:
    before = metric_samples(client)
    assert before[("whisper_api_queue_length", ())] == 0
    task = submit_decoding(client, audio)
    client.get("/api/v1/decoder_status_refresh")
    wait_until(lambda: status_of(client, task["task_id"])["status"] == "finished")
    # The store says finished a moment before the tracker's listener counts the end.
    ended = ("whisper_api_tasks_ended_total", (("status", "finished"),))
    wait_until(lambda: ended in metric_samples(client))
    after = metric_samples(client)
    assert after[("whisper_api_tasks_submitted_total", (("task_type", "transcribe"),))] == 1
    assert after[ended] == 1
    assert after[("whisper_api_upload_bytes_total", ())] == audio.stat().st_size
    assert after[("whisper_api_task_duration_seconds_count", ())] == 1
    assert after[("whisper_api_real_time_factor_count", ())] == 1
    assert after[("whisper_api_audio_processed_seconds_total", ())] == pytest.approx(0.5)
    status_route = (("code", "200"), ("method", "GET"), ("route", "/api/v1/status"))
    assert after[("whisper_api_http_requests_total", status_route)] >= 1
    assert after[("whisper_api_decoder_restarts_total", (("decoder", "0"),))] == 0
    assert after[("whisper_api_decoder_tasks_started_total", (("decoder", "0"),))] == 1
