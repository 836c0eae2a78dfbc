"""The decoder process: a pipe-reader thread feeds the task queue, the main thread decodes.

Started by the front end with the `spawn` context, so CUDA initialises cleanly in this process
alone. Log records go to the front end through a QueueHandler; nothing here writes files.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import numpy as np

from decoder.audio.ffmpeg import AudioFile
from decoder.audio.samples import SAMPLE_RATE, Samples
from decoder.device.ladder import plan_models
from decoder.engines import EngineOptions, ProgressCallback, choose_engine
from decoder.errors import AudioError, ModelLoadError, client_reason
from decoder.process.batch import fits, read_all
from decoder.process.channels import StageCallback, decode_channels
from decoder.process.in_hand import Cancelled, InHand
from decoder.process.languages import LANGUAGES
from decoder.process.model_holder import ModelHolder
from decoder.process.task_queue import QueueClosed, TaskQueue
from decoder.speakers import Speakers
from decoder.wire.options import SPLIT_CHANNELS
from decoder.wire.protocol import (
    GPU_BATCH_FILES,
    STAGES,
    SUPERSEDED,
    CancelTask,
    DecoderConfig,
    DecoderReady,
    DecoderStatus,
    DecodeTurn,
    DetectLanguage,
    FromDecoder,
    LanguageDetected,
    LoadModel,
    ModelsAvailable,
    Ping,
    Pong,
    RequestStatus,
    RescanModels,
    Shutdown,
    SubmitBatch,
    SubmitTask,
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    TaskProgress,
    TaskStarted,
    TurnDecoded,
    TurnFailed,
    UnloadModel,
)
from decoder.wire.transcript import DecodeRun, Segment, Transcript

log = logging.getLogger(__name__)


# A batched task with its audio.
_Read = tuple[SubmitTask, Samples]


def serve(conn: Connection, log_queue: Queue[Any], config: DecoderConfig) -> None:
    """Entry point of the decoder process."""
    # The front end decides when the decoder stops (Shutdown, then SIGKILL after the grace
    # period). A process group of its own keeps Ctrl-C in a terminal away from the decoder;
    # ignoring the signals covers a service manager that signals every process. Neither may
    # cut a task short behind the front end's back.
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(log_queue)]
    root.setLevel(config.log_level)
    try:
        DecoderService(conn, config).run()
    except Exception:
        log.exception("decoder crashed")
        raise
    finally:
        conn.close()


class DecoderService:
    def __init__(self, conn: Connection, config: DecoderConfig) -> None:
        self._conn = conn
        self._config = config
        # Connection.send is not thread-safe; the reader and the worker both send.
        self._send_lock = threading.Lock()
        self._queue = TaskQueue()
        self._in_hand = InHand()
        options = EngineOptions(
            compute_type=config.compute_type,
            vad_filter=config.vad_filter,
            cpu_threads=config.cpu_threads,
            batch_size=config.batch_size,
        )
        engine, self._plan = choose_engine(
            config.engine,
            Path(config.model_dir),
            options,
            lambda candidate: plan_models(
                max_model=config.max_model,
                cpu_fallback_model=config.cpu_fallback_model,
                use_gpu_if_available=config.use_gpu_if_available,
                develop_mode=config.develop_mode,
                facts=candidate.probe_device(config.use_gpu_if_available),
            ),
        )
        self._holder = ModelHolder(self._plan, engine, report=self._send)
        self._speakers = Speakers(
            Path(config.model_dir), config.speaker_encoder, options.cpu_threads, config.ffmpeg_timeout_s
        )
        default_batch = GPU_BATCH_FILES if self._plan.gpu_mode else 1
        self._batch_files = (config.batch_files or default_batch) if engine.batches_files else 1

    def run(self) -> None:
        log.info(
            "decoder started (pid %d): %s mode, %s engine, max model %s",
            os.getpid(),
            "GPU" if self._plan.gpu_mode else "CPU",
            self._holder.engine.name,
            self._plan.max_model_to_use,
        )
        self._send(
            DecoderReady(
                pid=os.getpid(),
                gpu_mode=self._plan.gpu_mode,
                max_model_to_use=self._plan.max_model_to_use,
                english_only=self._plan.english_only,
                languages=LANGUAGES,
                available_models=self._holder.available_models(),
                engine=self._holder.engine.name,
                batch_files=self._batch_files,
                labels_speakers=self._speakers.available,
            )
        )
        threading.Thread(target=self._read_pipe, name="pipe-reader", daemon=True).start()
        if self._config.load_model_on_startup:
            self._load_reporting_errors()
        for model in self._config.preload_models:
            self._holder.load_asked(model)
        if self._config.preload_models:
            self._send_status()
        try:
            self._work()
        except QueueClosed:
            log.info("decoder shutting down")

    def _send(self, message: FromDecoder) -> None:
        with self._send_lock:
            self._conn.send(message)

    def _send_status(self) -> None:
        self._send(
            DecoderStatus(
                gpu_mode=self._plan.gpu_mode,
                max_model_to_use=self._plan.max_model_to_use,
                last_loaded_model_size=self._holder.last_loaded_name,
                is_model_loaded=self._holder.is_loaded,
                currently_busy=self._in_hand.busy,
                queued_task_ids=self._queue.task_ids(),
                loaded_models=self._holder.held(),
            )
        )

    def _read_pipe(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                # The front end is gone: nobody can receive results any more.
                self._queue.close()
                return
            if isinstance(message, DecodeTurn):
                for stale in self._queue.put_turn(message):
                    self._send(TurnFailed(stale.turn_id, SUPERSEDED))
            elif isinstance(message, LoadModel | UnloadModel):
                self._queue.put_command(message)
            elif isinstance(message, RescanModels):
                self._send(ModelsAvailable(self._holder.available_models()))
            elif isinstance(message, SubmitTask | SubmitBatch | DetectLanguage):
                self._queue.put(message)
                self._send_status()
            elif isinstance(message, CancelTask):
                if self._queue.remove(message.task_id):
                    log.info("cancelled waiting task %s", message.task_id)
                    self._send(TaskCancelled(message.task_id))
                elif self._in_hand.owed(message.task_id):
                    # The batch decodes on; this task's result will be dropped.
                    log.info("cancelled task %s of the batch in hand", message.task_id)
                    self._send(TaskCancelled(message.task_id))
                elif self._in_hand.stop(message.task_id):
                    log.info("stopping task %s at its next window", message.task_id)
                self._send_status()
            elif isinstance(message, RequestStatus):
                self._send_status()
            elif isinstance(message, Ping):
                self._send(Pong())
            elif isinstance(message, Shutdown):
                self._queue.close()
                return

    def _load_reporting_errors(self) -> None:
        try:
            self._holder.load()
        except ModelLoadError as exc:
            # Tasks will retry the load and fail with this reason; the decoder stays up.
            log.error("%s", exc)
        self._send_status()

    def _work(self) -> None:
        unload_after = self._config.unload_model_after_s
        while True:
            timeout = None if unload_after is None else self._holder.idle_in(unload_after)
            task = self._queue.pop(timeout=timeout)
            if task is None:
                # A model idle for UNLOAD_MODEL_AFTER_S gives its memory back until it is needed.
                assert unload_after is not None
                self._holder.unload_idle(unload_after)
                if not self._holder.is_loaded:
                    self._speakers.unload()
                self._send_status()
                continue
            if isinstance(task, LoadModel | UnloadModel):
                if isinstance(task, LoadModel):
                    self._holder.load_asked(task.model)
                else:
                    self._holder.unload(task.model)
                self._send_status()
            elif isinstance(task, DecodeTurn):
                self._decode_turn(task)
            elif isinstance(task, DetectLanguage):
                self._detect(task)
            elif isinstance(task, SubmitBatch):
                self._decode_batch(task)
            else:
                self._decode(task)

    def _detect(self, task: DetectLanguage) -> None:
        with self._in_hand.detection():
            try:
                found = self._holder.detect_language(self._audio_of(task), task.model)
            except Exception as exc:
                log.exception("language detection %s failed", task.task_id)
                reason = f"language detection failed: {client_reason(exc)}"
                self._send(TaskFailed(task.task_id, reason, time.time()))
            else:
                heard = (found.language, found.probability, found.candidates, found.windows)
                self._send(LanguageDetected(task.task_id, *heard))
        self._send_status()

    def _decode(self, task: SubmitTask, *, announce: bool = True) -> None:
        """Decode one task (`announce`: tell that it started; a batch told it already)."""
        with self._in_hand.task(task.task_id):
            started = time.time()
            if announce:
                self._send(TaskStarted(task.task_id, self._plan.max_model_to_use, started))
                self._send_status()
                log.info("decoding task %s (%s)", task.task_id, task.task_type)
            try:
                transcript = self._transcript_of(task)
            except Cancelled:
                log.info("task %s stopped: it was cancelled", task.task_id)
                self._send(TaskCancelled(task.task_id))
            except Exception as exc:
                log.exception("task %s failed", task.task_id)
                self._send(TaskFailed(task.task_id, f"decoding failed: {client_reason(exc)}", time.time()))
            else:
                log.info("task %s finished in %.1f s", task.task_id, time.time() - started)
                self._send(TaskFinished(task.task_id, transcript, self._run(task, started)))
        self._send_status()

    def _transcript_of(self, task: SubmitTask) -> Transcript:
        """The task's transcript, its progress reported (and its speakers labelled) on the way;
        Cancelled between two windows where a CancelTask asked it to stop."""
        reported = 0

        def on_progress(decoded: float, total: float, segments: tuple[Segment, ...]) -> None:
            nonlocal reported
            self._in_hand.stop_if_cancelled()
            self._send(TaskProgress(task.task_id, decoded, total, segments, reported))
            reported += len(segments)
            self._serve_turns()

        def on_diarized(covered: float, total: float) -> None:
            self._in_hand.stop_if_cancelled()
            self._send(TaskProgress(task.task_id, covered, total, stage=STAGES[1]))
            self._serve_turns()

        def hear(audio: AudioFile, on_progress: ProgressCallback, on_diarized: StageCallback) -> Transcript:
            transcript = self._holder.transcribe(audio, task, on_progress)
            if task.options.diarization is not None:
                transcript = self._speakers.diarize(audio, transcript, task.options.diarization, on_diarized)
            return transcript

        audio = self._audio_of(task)
        if task.options.channels == SPLIT_CHANNELS:
            return decode_channels(audio, task.options.channel_names, hear, on_progress, on_diarized)
        return hear(audio, on_progress, on_diarized)

    def _serve_turns(self) -> None:
        """Between a task's windows: the live turns that arrived meanwhile go first."""
        while (turn := self._queue.pop_turn()) is not None:
            self._decode_turn(turn)

    def _decode_turn(self, turn: DecodeTurn) -> None:
        started = time.monotonic()
        try:
            heard = self._holder.transcribe_turn(np.frombuffer(turn.audio, np.float32), turn)
        except Exception as exc:
            log.exception("live turn %s failed", turn.turn_id)
            self._send(TurnFailed(turn.turn_id, f"decoding failed: {client_reason(exc)}"))
        else:
            self._send(TurnDecoded(turn.turn_id, heard.text, heard.language, time.monotonic() - started))

    def _audio_of(self, task: SubmitTask | DetectLanguage) -> AudioFile:
        config = self._config
        return AudioFile(
            task.audio_path, task.audio_format, config.ffmpeg_timeout_s, config.max_audio_duration_s
        )

    def _run(self, task: SubmitTask, started: float) -> DecodeRun:
        return DecodeRun(
            target_model_size=task.options.model or self._plan.max_model_to_use,
            used_model_size=self._holder.loaded_name or "",
            used_device=self._holder.device or "",
            started_at=started,
            finished_at=time.time(),
        )

    def _decode_batch(self, batch: SubmitBatch) -> None:
        """Short tasks decoded together; each is answered on its own. One that cannot be read
        fails alone; one whose audio is longer than its probed length is decoded alone after."""
        with self._in_hand.batch(batch.task_ids) as answers:
            started = time.time()
            count = len(batch.tasks)
            for task in batch.tasks:
                self._send(TaskStarted(task.task_id, self._plan.max_model_to_use, started))
                log.info("decoding task %s (%s) in a batch of %d", task.task_id, task.task_type, count)
            self._send_status()
            alone: list[SubmitTask] = []
            try:
                together, alone = self._read_batch(batch.tasks)
                audios = [audio for _, audio in together]
                transcripts = self._holder.transcribe_batch(audios, together[0][0]) if together else []
            except Exception as exc:
                log.exception("a batch of %d tasks failed", count)
                reason = f"decoding failed: {client_reason(exc)}"
                for task in batch.tasks:
                    self._answer(TaskFailed(task.task_id, reason, time.time()))
            else:
                log.info("a batch of %d tasks finished in %.1f s", len(together), time.time() - started)
                for (task, audio), transcript in zip(together, transcripts, strict=True):
                    seconds = len(audio) / SAMPLE_RATE
                    finished = TaskFinished(task.task_id, transcript, self._run(task, started))
                    self._answer(TaskProgress(task.task_id, seconds, seconds), finished)
            finally:
                alone = [task for task in alone if answers.take(task.task_id)]
        for task in alone:
            self._decode(task, announce=False)
        self._send_status()

    def _read_batch(self, tasks: tuple[SubmitTask, ...]) -> tuple[list[_Read], list[SubmitTask]]:
        """The audio of the tasks to decode together, and the tasks to decode alone; a task
        whose file cannot be read is answered here."""
        together: list[_Read] = []
        alone: list[SubmitTask] = []
        for task, audio in zip(tasks, read_all(tasks, self._config.ffmpeg_timeout_s), strict=True):
            if isinstance(audio, AudioError):
                self._answer(TaskFailed(task.task_id, f"decoding failed: {audio}", time.time()))
            elif fits(audio):
                together.append((task, audio))
            else:
                alone.append(task)
        return together, alone

    def _answer(self, *messages: TaskProgress | TaskFinished | TaskFailed) -> None:
        """Send a batched task's end, unless a CancelTask answered it first."""
        if self._in_hand.owed(messages[-1].task_id):
            for message in messages:
                self._send(message)
