"""The front end's picture of the host's decoding work, in memory: which jobs wait and in what
order (upload order, which gives every pending job its position in the whole queue), which
decoder holds what, how far each running job is, and which language detections wait or are out.

Decoders pull: a decoder slot holds at most one piece of work (a job it was handed and has not
finished, or a detection), and is handed the next only once it is free, so a short file never
waits behind a long one while another decoder idles. A job handed to a decoder still waits (and
keeps its place, 0) until the decoder says it started. The store holds the jobs; this is rebuilt
from it when the server starts.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import OrderedDict

from decoder.protocol import DetectLanguage, SubmitTask, TaskProgress
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.progress import Progress

Work = SubmitTask | DetectLanguage


def submission(job: Job) -> SubmitTask:
    """What a decoder is sent of a job."""
    return SubmitTask(
        job.task_id, str(job.audio_path), job.task_type, job.language, job.options, job.audio_format
    )


class JobQueue:
    def __init__(self) -> None:
        # Pending jobs, and their (upload time, task id) keys kept sorted: the queue's order.
        self._waiting: dict[str, SubmitTask] = {}
        self._keys: dict[str, tuple[float, str]] = {}
        self._order: list[tuple[float, str]] = []
        # What each decoder slot holds, by slot index: a task id (job or detection).
        self._held: dict[int, str] = {}
        # Running jobs, as they were when they started.
        self.running: dict[str, Job] = {}
        self._progress: dict[str, Progress] = {}
        # Language detections not yet handed to a decoder, in the order they were asked.
        self._detections_waiting: OrderedDict[str, DetectLanguage] = OrderedDict()
        # Every detection not answered yet, by task id, with the future its asker awaits.
        self.detections: dict[str, asyncio.Future[tuple[str, float]]] = {}

    def add(self, submission: SubmitTask, uploaded_at: float) -> None:
        """A job waits, in its upload place (a retried job goes back before later uploads)."""
        task_id = submission.task_id
        if task_id not in self._waiting:
            key = (uploaded_at, task_id)
            self._keys[task_id] = key
            bisect.insort(self._order, key)
        self._waiting[task_id] = submission

    def drop(self, task_id: str) -> int | None:
        """The job no longer waits; the slot it had been handed to, if any (which still holds it
        until its decoder says the job ended)."""
        if task_id in self._waiting:
            del self._waiting[task_id]
            self._order.remove(self._keys.pop(task_id))
        return self.slot_holding(task_id)

    def clear(self) -> None:
        """Nothing waits until the store says what does (the server starts)."""
        self._waiting.clear()
        self._keys.clear()
        self._order.clear()

    def ask_detection(self, request: DetectLanguage, answer: asyncio.Future[tuple[str, float]]) -> None:
        self._detections_waiting[request.task_id] = request
        self.detections[request.task_id] = answer

    def forget_detection(self, task_id: str) -> None:
        self._detections_waiting.pop(task_id, None)
        self.detections.pop(task_id, None)

    def next_work(self) -> Work | None:
        """What a free decoder is handed next: a detection (a client waits on it), else the first
        waiting job no decoder holds."""
        detection = next(iter(self._detections_waiting.values()), None)
        if detection is not None:
            return detection
        held = set(self._held.values())
        for _key, task_id in self._order:
            if task_id not in held:
                return self._waiting[task_id]
        return None

    def hand(self, work: Work, slot: int) -> None:
        """The slot's decoder was sent `work`; it holds it until it ends."""
        self._detections_waiting.pop(work.task_id, None)
        self._held[slot] = work.task_id

    def is_free(self, slot: int) -> bool:
        return slot not in self._held

    def held_ids(self) -> list[str]:
        """Everything the host's decoders hold."""
        return list(self._held.values())

    def held_by(self, slot: int) -> str | None:
        return self._held.get(slot)

    def slot_holding(self, task_id: str) -> int | None:
        for slot, held in self._held.items():
            if held == task_id:
                return slot
        return None

    def running_in(self, slot: int) -> Job | None:
        """The job the slot's decoder decodes, if any."""
        task_id = self._held.get(slot)
        return self.running.get(task_id) if task_id is not None else None

    def started(self, job: Job, now: float) -> None:
        """A decoder took the job from its pipe; `now` is a monotonic time."""
        self.drop(job.task_id)
        self.running[job.task_id] = job
        self._progress[job.task_id] = Progress(0.0, 0.0, now)

    def finishing(self, task_id: str) -> None:
        """Its decoder is done with it: the slot is free; its progress stays until `ended`."""
        self.running.pop(task_id, None)
        slot = self.slot_holding(task_id)
        if slot is not None:
            del self._held[slot]

    def ended(self, task_id: str) -> None:
        """The work ended (or its decoder died): its slot is free again, its progress gone."""
        self.finishing(task_id)
        self._progress.pop(task_id, None)

    def release(self, slot: int) -> None:
        """The slot's decoder died: whatever it held is no longer in hand (a job handed but not
        started waits again for the next free decoder)."""
        task_id = self._held.get(slot)
        if task_id is not None:
            self.ended(task_id)

    def record_progress(self, event: TaskProgress, now: float) -> Job | None:
        """Note how far a task is; the running job, whose watchers want to know, if it is one."""
        known = self._progress.get(event.task_id)
        started = known.started if known else now
        self._progress[event.task_id] = Progress(event.decoded_s, event.duration_s, started)
        return self.running.get(event.task_id)

    def progress(self, task_id: str) -> Progress | None:
        return self._progress.get(task_id)

    def position(self, job: Job) -> int | None:
        """0-based place in the whole queue of a pending job (0 runs next), None otherwise."""
        key = self._keys.get(job.task_id)
        if job.status is not JobStatus.PENDING or key is None:
            return None
        return bisect.bisect_left(self._order, key)

    def count(self) -> int:
        """How many jobs wait: the queue length that MAX_TASK_QUEUE_SIZE limits."""
        return len(self._waiting)

    def ids(self) -> list[str]:
        """The waiting jobs' task ids, next first."""
        return [task_id for _key, task_id in self._order]

    def busy(self, slot: int) -> bool:
        """Whether the slot's decoder holds something of ours (its watchdog's question)."""
        return slot in self._held
