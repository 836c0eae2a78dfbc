"""How long a store keeps an ended job's result (KEEP_RESULTS_S), the same in every store: its
lifetime starts when the job ends, a result read after it is gone (the store deletes it on
the spot), and where the store refreshes on use, reading it starts the lifetime again."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from whisper_api.jobs.job import Job

# A result's lifetime is refreshed on use at most this often (or a tenth of the lifetime, if
# shorter): a poll of a finished task then costs no write (and no fsync) most of the time.
REFRESH_GRANULARITY_S = 60.0


@dataclass(frozen=True)
class Lifetime:
    keep_results_s: float
    refresh_on_use: bool
    clock: Callable[[], float] = field(default=time.time)

    def start(self, job: Job) -> None:
        """The job just ended: its lifetime starts now."""
        job.expires_at = self.clock() + self.keep_results_s

    def over(self, job: Job) -> bool:
        """Whether the job's result has outlived its lifetime."""
        return job.expires_at is not None and job.expires_at <= self.clock()

    def refreshed(self, job: Job) -> float | None:
        """The later expiry that reading an ended job gives it, or None where it keeps its own."""
        if not self.refresh_on_use or not job.done or job.expires_at is None:
            return None
        refreshed = self.clock() + self.keep_results_s
        granularity = min(REFRESH_GRANULARITY_S, self.keep_results_s / 10)
        return refreshed if refreshed - job.expires_at >= granularity else None
