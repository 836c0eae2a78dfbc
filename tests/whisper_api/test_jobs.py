from __future__ import annotations

from pathlib import Path

import pytest

from whisper_api.jobs import Job, JobStatus, JobStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def finished_job(store: JobStore, tmp_path: Path, name: str = "a" * 32) -> Job:
    audio = tmp_path / f"{name}.wav"
    audio.write_bytes(b"RIFF")
    job = Job(name, "transcribe", None, audio, "talk.wav")
    store.add(job)
    job.status = JobStatus.FINISHED
    store.finish(job)
    return job


def test_finishing_deletes_the_audio(tmp_path: Path, clock: Clock) -> None:
    store = JobStore(keep_results_s=60, refresh_on_use=False, clock=clock)
    job = finished_job(store, tmp_path)
    assert not job.audio_path.exists()
    assert store.get(job.task_id) is job


def test_results_expire_lazily_on_access(tmp_path: Path, clock: Clock) -> None:
    store = JobStore(keep_results_s=60, refresh_on_use=False, clock=clock)
    job = finished_job(store, tmp_path)
    clock.now += 59
    assert store.get(job.task_id) is job
    clock.now += 1
    assert store.get(job.task_id) is None
    assert len(store) == 0


def test_use_refreshes_the_expiry_when_configured(tmp_path: Path, clock: Clock) -> None:
    store = JobStore(keep_results_s=60, refresh_on_use=True, clock=clock)
    job = finished_job(store, tmp_path)
    for _ in range(3):
        clock.now += 50
        assert store.get(job.task_id) is job
    clock.now += 61
    assert store.get(job.task_id) is None


def test_sweep_removes_only_expired_results(tmp_path: Path, clock: Clock) -> None:
    store = JobStore(keep_results_s=60, refresh_on_use=False, clock=clock)
    old = finished_job(store, tmp_path, "b" * 32)
    clock.now += 30
    young = finished_job(store, tmp_path, "c" * 32)
    waiting_audio = tmp_path / "waiting.wav"
    waiting_audio.write_bytes(b"RIFF")
    store.add(Job("d" * 32, "transcribe", None, waiting_audio, "w.wav"))
    clock.now += 40
    assert store.expire() == 1
    assert store.get(old.task_id) is None
    assert store.get(young.task_id) is young
    # Pending jobs never expire, and keep their audio.
    clock.now += 10_000
    assert store.expire() == 1
    assert [job.task_id for job in store.pending()] == ["d" * 32]
    assert waiting_audio.exists()
