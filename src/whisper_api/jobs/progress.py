"""How far a decoding task is: shown to clients; where several hosts share the queue, also
written to the job's row every few seconds (whisper_api.jobs.tracker.sharing)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from decoder.wire.protocol import STAGES


@dataclass(frozen=True)
class Progress:
    decoded_s: float
    duration_s: float
    # Monotonic time at which this stage began, for the estimate of what is left.
    started: float
    # decoder.wire.protocol.STAGES: what the decoder is doing.
    stage: str = STAGES[0]

    @property
    def fraction(self) -> float:
        return min(1.0, self.decoded_s / self.duration_s) if self.duration_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        if self.decoded_s <= 0:
            return None
        elapsed = time.monotonic() - self.started
        return round(elapsed * (self.duration_s - self.decoded_s) / self.decoded_s, 1)
