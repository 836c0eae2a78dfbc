"""Head starts: a free decoder begins on an upload while the upload check still runs.

Checking an upload (whisper_api.jobs.intake.media) takes a message to a checker process and
about 10 ms there, whatever the upload's length, and longer where the checkers are busy. Where
a decoder is free and nothing waits for one, the tracker hands it the upload at once, and the
check runs beside the decoding instead of before it.

Until the check's verdict the task is the tracker's alone: it is in no store and no queue, and
what its decoder reports of it is held back here, so no client, watcher, webhook, metric or other
host learns of it.

- The check passes: the job is stored, and the held reports are applied in order as if they had
  just come (a result that came first waits for the check).
- The check refuses the file: its decoder is told to stop (and restarted if it has not 10 s
  later, as for a cancel), the held reports are dropped, and the task's end only frees its
  decoder.
- Its decoder dies first: the job, once stored, waits in the queue like any other. (A job
  started ahead is queued when it is stored, as every job is: a job handed to a decoder keeps
  its place in the queue until the decoder says it started, so that it is handed again should
  that decoder die first.)

The tracker (whisper_api.jobs.tracker.task_tracker) holds one HeadStarts, and passes every
decoder report through `held_back` first.
"""

from __future__ import annotations

from collections.abc import Callable

from decoder.wire.protocol import SubmitTask, TaskCancelled, TaskFailed, TaskFinished
from whisper_api.jobs.dispatch.decoder_client import DecoderEvent, DecoderExited
from whisper_api.jobs.dispatch.pool import DecoderSlot
from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.errors import DecoderUnavailable

_ENDS = (TaskFinished, TaskFailed, TaskCancelled)
# Larger uploads get no head start: the check is nothing beside their decoding, and the decoder's
# first pass over a long file (its survey) cannot stop early if the check refuses it (a file
# over MAX_AUDIO_DURATION_S, say). This holds minutes of any compressed audio.
HEAD_START_MAX_BYTES = 10 * 1024 * 1024


class HeadStarts:
    def __init__(
        self,
        queue: JobQueue,
        free_slots: Callable[[], list[DecoderSlot]],
        stop_soon: Callable[[str], None],
        apply: Callable[[DecoderEvent], None],
        enabled: bool,
    ) -> None:
        """`apply` hands the tracker a decoder's report to apply in turn; `enabled` is False
        where several hosts share the queue, which is then left to its order."""
        self._queue = queue
        self._free_slots = free_slots
        self._stop_soon = stop_soon
        self._apply = apply
        self._enabled = enabled
        # Reports held for each task started ahead whose check still runs.
        self._ahead: dict[str, list[tuple[DecoderSlot, DecoderEvent]]] = {}
        # Tasks whose check refused them, until their decoder lets go of them.
        self._refused: set[str] = set()

    def start(self, task: SubmitTask, size: int) -> bool:
        """Hand an upload of `size` bytes whose check still runs to a free decoder, if it is
        small and nothing waits for one; whether it was handed."""
        if not self._enabled or size > HEAD_START_MAX_BYTES:
            return False
        free = self._free_slots()
        if not free or self._queue.next_work() is not None:
            return False
        try:
            free[0].decoder.send(task)
        except DecoderUnavailable:
            return False
        self._queue.hand(task, free[0].index)
        self._ahead[task.task_id] = []
        return True

    def held_back(self, slot: DecoderSlot, event: DecoderEvent) -> bool:
        """Whether a decoder's report is of a task whose check has not passed (held, or dropped
        where the check refused it); a refused task's end only frees its decoder."""
        if isinstance(event, DecoderExited):
            self._refused.difference_update(self._queue.held_by(slot.index))
        task_id = getattr(event, "task_id", None)
        if task_id in self._ahead:
            self._ahead[task_id].append((slot, event))
            return True
        if task_id in self._refused:
            if isinstance(event, _ENDS):
                self._refused.discard(task_id)
                self._apply(event)  # it only frees its decoder
            return True
        return False

    def passed(self, task_id: str) -> list[tuple[DecoderSlot, DecoderEvent]]:
        """The reports held for a task whose job is now stored and queued, to apply in order:
        none where it was not started ahead, or where its decoder died since (the queue hands
        the job to the next free decoder)."""
        held = self._ahead.pop(task_id, [])
        return held if self._queue.slot_holding(task_id) is not None else []

    def refuse(self, task_id: str) -> None:
        """The check refused (or the store did not take) a task started ahead: it ends unseen."""
        held = self._ahead.pop(task_id, None)
        if held is None or self._queue.slot_holding(task_id) is None:
            return
        end = next((event for _, event in held if isinstance(event, _ENDS)), None)
        if end is not None:
            self._apply(end)  # it only frees its decoder
        else:
            self._refused.add(task_id)
            self._stop_soon(task_id)

    def refused(self, task_id: str) -> bool:
        """Whether the task's check refused it and its decoder has not let go of it yet."""
        return task_id in self._refused
