"""The front end's picture of the host's decoding work, in memory: which jobs wait and in what
order (upload order, which gives every pending job its position in the whole queue, where the
host has the queue to itself; hosts that share one ask the database, whisper_api.jobs.tracker.standing), which
decoder holds what, how far each running job is, and which language detections wait or are out.

Decoders pull: a decoder slot holds at most one piece of work (a job it was handed and has not
finished, a batch of short jobs, or a detection), and is handed the next only once it is free,
so a short file never waits behind a long one while another decoder idles. A job handed to a
decoder still waits (and keeps its place, 0) until the decoder says it started. The store holds
the jobs; this is rebuilt from it when the server starts.

A batch is the first waiting job and those right behind it in upload order, as long as each is
short (BATCH_FILE_MAX_S), needs no language detection of its own, and asks for the same task,
language and options: arrival order alone decides which jobs go together. A job that was in
hand when its decoder died is decoded alone, so that a file that kills a decoder takes no
batch with it.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import OrderedDict
from collections.abc import Iterator, Sequence

from decoder.wire.options import MIXED_CHANNELS
from decoder.wire.protocol import (
    BATCH_FILE_MAX_S,
    DetectLanguage,
    LanguageDetected,
    SubmitBatch,
    SubmitTask,
    TaskProgress,
)
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.progress import Progress

Work = SubmitTask | SubmitBatch | DetectLanguage


def submission(job: Job) -> SubmitTask:
    """What a decoder is sent of a job."""
    return SubmitTask(
        job.task_id,
        str(job.audio_path),
        job.task_type,
        job.language,
        job.options,
        job.audio_format,
        job.duration_s,
    )


def task_ids(work: Work) -> tuple[str, ...]:
    return work.task_ids if isinstance(work, SubmitBatch) else (work.task_id,)


def _alike(first: SubmitTask, task: SubmitTask) -> bool:
    return (first.task_type, first.language, first.options) == (task.task_type, task.language, task.options)


class JobQueue:
    def __init__(self) -> None:
        # Pending jobs, and their (upload time, task id) keys kept sorted: the queue's order.
        self._waiting: dict[str, SubmitTask] = {}
        # Waiting jobs that are not to be batched.
        self._alone: set[str] = set()
        self._keys: dict[str, tuple[float, str]] = {}
        self._order: list[tuple[float, str]] = []
        # What each decoder slot holds, by slot index: task ids (a job, a batch or a detection).
        self._held: dict[int, list[str]] = {}
        # Running jobs, as they were when they started.
        self.running: dict[str, Job] = {}
        self._progress: dict[str, Progress] = {}
        # Language detections not yet handed to a decoder, in the order they were asked.
        self._detections_waiting: OrderedDict[str, DetectLanguage] = OrderedDict()
        # Every detection not answered yet, by task id, with the future its asker awaits.
        self.detections: dict[str, asyncio.Future[LanguageDetected]] = {}

    def add(self, submission: SubmitTask, uploaded_at: float, *, alone: bool = False) -> None:
        """A job waits, in its upload place (a retried job goes back before later uploads);
        `alone`: it is not to be batched (its decoder died while it was in hand)."""
        task_id = submission.task_id
        if alone:
            self._alone.add(task_id)
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
            self._alone.discard(task_id)
        return self.slot_holding(task_id)

    def clear(self) -> None:
        """Nothing waits until the store says what does (the server starts)."""
        self._waiting.clear()
        self._alone.clear()
        self._keys.clear()
        self._order.clear()

    def ask_detection(self, request: DetectLanguage, answer: asyncio.Future[LanguageDetected]) -> None:
        self._detections_waiting[request.task_id] = request
        self.detections[request.task_id] = answer

    def forget_detection(self, task_id: str) -> None:
        self._detections_waiting.pop(task_id, None)
        self.detections.pop(task_id, None)

    def next_work(self, batch_files: int = 1, english_only: bool = False) -> Work | None:
        """What a free decoder is handed next: a detection (a client waits on it), else the first
        waiting job no decoder holds, batched with up to `batch_files` - 1 of those right behind
        it where they can go together (`english_only`: the decoder's model knows one language)."""
        detection = next(iter(self._detections_waiting.values()), None)
        if detection is not None:
            return detection
        held = set(self.held_ids())
        batch: list[SubmitTask] = []
        for _key, task_id in self._order:
            if task_id in held:
                continue
            task = self._waiting[task_id]
            if batch and not (_alike(batch[0], task) and self._batchable(task, english_only)):
                break
            batch.append(task)
            if len(batch) >= batch_files or not self._batchable(task, english_only):
                break
        if len(batch) > 1:
            return SubmitBatch(tuple(batch))
        return batch[0] if batch else None

    def _batchable(self, task: SubmitTask, english_only: bool) -> bool:
        """Short enough for one window, in a language known before decoding, without speakers
        to label (a step of its own after decoding) or channels to hear one by one, and not a
        job to decode alone."""
        short = task.duration_s is not None and 0 < task.duration_s <= BATCH_FILE_MAX_S
        known = english_only or task.language is not None
        options = task.options
        alone = (
            options.diarization is not None
            or options.channels != MIXED_CHANNELS
            or task.task_id in self._alone
        )
        return short and known and not alone

    def hand(self, work: Work, slot: int) -> None:
        """The slot's decoder was sent `work`; it holds it until it ends."""
        if isinstance(work, DetectLanguage):
            self._detections_waiting.pop(work.task_id, None)
        self._held[slot] = list(task_ids(work))

    def is_free(self, slot: int) -> bool:
        return slot not in self._held

    def held_ids(self) -> list[str]:
        """Everything the host's decoders hold."""
        return [task_id for held in self._held.values() for task_id in held]

    def held_by(self, slot: int) -> tuple[str, ...]:
        return tuple(self._held.get(slot, ()))

    def slot_holding(self, task_id: str) -> int | None:
        for slot, held in self._held.items():
            if task_id in held:
                return slot
        return None

    def running_in(self, slot: int) -> list[Job]:
        """The jobs the slot's decoder decodes (several in a batch)."""
        return [self.running[task_id] for task_id in self._held.get(slot, ()) if task_id in self.running]

    def started(self, job: Job, now: float) -> None:
        """A decoder took the job from its pipe; `now` is a monotonic time."""
        self.drop(job.task_id)
        self.running[job.task_id] = job
        self._progress[job.task_id] = Progress(0.0, 0.0, now)

    def finishing(self, task_id: str) -> None:
        """Its decoder is done with it: the slot is free once nothing else of a batch is left
        in it; its progress stays until `ended`."""
        self.running.pop(task_id, None)
        slot = self.slot_holding(task_id)
        if slot is not None:
            self._held[slot].remove(task_id)
            if not self._held[slot]:
                del self._held[slot]

    def ended(self, task_id: str) -> None:
        """The work ended (or its decoder died): its slot is free again, its progress gone."""
        self.finishing(task_id)
        self._progress.pop(task_id, None)

    def release(self, slot: int) -> None:
        """The slot's decoder died: whatever it held is no longer in hand (a job handed but not
        started waits again for the next free decoder)."""
        for task_id in self.held_by(slot):
            self.ended(task_id)

    def record_progress(self, event: TaskProgress, now: float) -> Job | None:
        """Note how far a task is; the running job, whose watchers want to know, if it is one."""
        known = self._progress.get(event.task_id)
        started = known.started if known and known.stage == event.stage else now
        self._progress[event.task_id] = Progress(event.decoded_s, event.duration_s, started, event.stage)
        return self.running.get(event.task_id)

    def progress(self, task_id: str) -> Progress | None:
        return self._progress.get(task_id)

    def position(self, job: Job) -> int | None:
        """0-based place in the whole queue of a pending job (0 runs next), None otherwise."""
        key = self._keys.get(job.task_id)
        if job.status is not JobStatus.PENDING or key is None:
            return None
        return bisect.bisect_left(self._order, key)

    async def locate(self, jobs: Sequence[Job]) -> None:
        """Every waiting job's place is known here already."""

    def waiting_positions(self) -> Iterator[tuple[str, int]]:
        return ((task_id, position) for position, (_key, task_id) in enumerate(self._order))

    def count(self) -> int:
        """How many jobs wait: the queue length that MAX_TASK_QUEUE_SIZE limits."""
        return len(self._waiting)

    async def counted(self) -> int:
        return self.count()

    def oldest_upload(self) -> float | None:
        """When the job first in line was uploaded (epoch seconds); None while nothing waits."""
        return self._order[0][0] if self._order else None

    def unheld(self) -> int:
        """How many waiting jobs no decoder holds yet."""
        held = set(self.held_ids())
        return sum(task_id not in held for task_id in self._waiting)

    def ids(self) -> list[str]:
        """The waiting jobs' task ids, next first."""
        return [task_id for _key, task_id in self._order]

    def busy(self, slot: int) -> bool:
        """Whether the slot's decoder holds something of ours (its watchdog's question)."""
        return slot in self._held
