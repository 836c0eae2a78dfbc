"""A result's lifetime, as every store keeps it."""

from __future__ import annotations

from pathlib import Path

from tests.unit.whisper_api.jobs.store_helpers import Clock, make_job
from whisper_api.jobs.job import JobStatus
from whisper_api.jobs.store.lifetime import REFRESH_GRANULARITY_S, Lifetime


def test_a_read_refreshes_an_ended_job_at_most_once_a_granule(tmp_path: Path) -> None:
    clock = Clock()
    lifetime = Lifetime(keep_results_s=3600, refresh_on_use=True, clock=clock)
    job = make_job(tmp_path, "a")
    assert lifetime.refreshed(job) is None, "a job that has not ended has no lifetime yet"
    job.status = JobStatus.FINISHED
    lifetime.start(job)
    assert job.expires_at == clock.now + 3600
    clock.now += REFRESH_GRANULARITY_S - 1
    assert lifetime.refreshed(job) is None, "too soon: no write for it"
    clock.now += 1
    assert lifetime.refreshed(job) == clock.now + 3600
    assert not lifetime.over(job)
    clock.now += 3600
    assert lifetime.over(job)


def test_without_refresh_on_use_a_read_never_extends_it(tmp_path: Path) -> None:
    clock = Clock()
    lifetime = Lifetime(keep_results_s=60, refresh_on_use=False, clock=clock)
    job = make_job(tmp_path, "b")
    job.status = JobStatus.FAILED
    lifetime.start(job)
    clock.now += 59
    assert lifetime.refreshed(job) is None and not lifetime.over(job)
    clock.now += 1
    assert lifetime.over(job)
