"""The front end's picture of the decoder's work, in memory: which jobs wait and in what order
(the mirror of the decoder's FIFO, which gives every pending job its position), which of them
the current decoder has been sent, which job decodes and how far it is, and which language
detections are out. The store holds the jobs; this is rebuilt from it whenever a decoder starts.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from decoder.protocol import SubmitTask, TaskProgress
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.progress import Progress


class JobQueue:
    def __init__(self) -> None:
        # Pending jobs in upload order, and which of them the current decoder has been sent.
        self._waiting: OrderedDict[str, SubmitTask] = OrderedDict()
        self._sent: set[str] = set()
        self._progress: dict[str, Progress] = {}
        # The job the decoder is decoding, as it was when it started.
        self.running: Job | None = None
        # The language detections the decoder has not answered yet, by task id, with the future
        # that their asker awaits.
        self.detections: dict[str, asyncio.Future[tuple[str, float]]] = {}

    def add(self, submission: SubmitTask) -> None:
        """A job waits at the end of the queue, not yet sent to the decoder."""
        self._waiting[submission.task_id] = submission

    def drop(self, task_id: str) -> bool:
        """The job no longer waits; True if the current decoder had been sent it."""
        self._waiting.pop(task_id, None)
        sent = task_id in self._sent
        self._sent.discard(task_id)
        return sent

    def forget_decoder(self) -> None:
        """A new decoder starts empty: nothing waits or is sent until the store says what does."""
        self._waiting.clear()
        self._sent.clear()

    def unsent(self) -> list[SubmitTask]:
        """The waiting jobs the current decoder has not been sent, in order."""
        return [submission for task_id, submission in self._waiting.items() if task_id not in self._sent]

    def mark_sent(self, task_id: str) -> None:
        self._sent.add(task_id)

    def started(self, job: Job, now: float) -> None:
        """The decoder took the job from its queue; `now` is a monotonic time."""
        self.drop(job.task_id)
        self.running = job
        self._progress[job.task_id] = Progress(0.0, 0.0, now)

    def ended(self, task_id: str) -> None:
        """The job in hand ended (or its decoder died)."""
        self.running = None
        self._progress.pop(task_id, None)

    def record_progress(self, event: TaskProgress, now: float) -> bool:
        """Note how far a task is; True if it is the job in hand, whose watchers want to know."""
        known = self._progress.get(event.task_id)
        started = known.started if known else now
        self._progress[event.task_id] = Progress(event.decoded_s, event.duration_s, started)
        return self.running is not None and self.running.task_id == event.task_id

    def progress(self, task_id: str) -> Progress | None:
        return self._progress.get(task_id)

    def position(self, job: Job) -> int | None:
        """0-based place in the queue of a pending job (0 runs next), None otherwise."""
        if job.status is not JobStatus.PENDING or job.task_id not in self._waiting:
            return None
        return list(self._waiting).index(job.task_id)

    def count(self) -> int:
        """How many jobs wait: the queue length that MAX_TASK_QUEUE_SIZE limits."""
        return len(self._waiting)

    def ids(self) -> list[str]:
        """The waiting jobs' task ids, next first."""
        return list(self._waiting)

    def has_work(self) -> bool:
        """Whether the decoder holds something of ours: a task decoding, queued, or a detection."""
        return self.running is not None or bool(self._sent) or bool(self.detections)
