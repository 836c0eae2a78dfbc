"""Decoder supervision: the watchdog against a scripted decoder client (ping, unresponsive,
kill), and the rules for the jobs a dead decoder leaves behind."""

from __future__ import annotations

import time
from pathlib import Path

from decoder.wire.protocol import Ping, ToDecoder
from whisper_api.jobs.dispatch.decoder_client import DecoderClient
from whisper_api.jobs.dispatch.supervision import (
    CRASHED_TWICE,
    INTERRUPTED_TWICE,
    Action,
    DecoderWatchdog,
    Fate,
    fate_after_crash,
    fate_on_requeue,
)
from whisper_api.jobs.job import Job, JobStatus


class ScriptedDecoder:
    """Records what it is sent and whether it was killed; `last_heard` is set by the test."""

    running = True
    pid = 1234

    def __init__(self) -> None:
        self.sent: list[ToDecoder] = []
        self.killed = 0
        self.last_heard = time.monotonic()

    def send(self, message: ToDecoder) -> None:
        self.sent.append(message)

    def kill(self) -> None:
        self.killed += 1


def watchdog(decoder: ScriptedDecoder, has_work: list[bool], timeout_s: float) -> DecoderWatchdog:
    client: DecoderClient = decoder  # type: ignore[assignment]
    return DecoderWatchdog(client, lambda: has_work[0], timeout_s)


def test_an_idle_decoder_is_not_pinged() -> None:
    decoder = ScriptedDecoder()
    dog = watchdog(decoder, [False], 0.2)
    dog.check()
    assert decoder.sent == [] and not dog.unresponsive


def test_an_answering_decoder_is_pinged_and_kept() -> None:
    decoder = ScriptedDecoder()
    dog = watchdog(decoder, [True], 0.2)
    for _ in range(3):
        dog.check()
        decoder.last_heard = time.monotonic()  # the Pong
        time.sleep(0.15)
    dog.check()
    assert decoder.killed == 0 and not dog.unresponsive
    assert decoder.sent and all(isinstance(message, Ping) for message in decoder.sent)


def test_a_silent_decoder_is_unresponsive_then_killed_once() -> None:
    decoder = ScriptedDecoder()
    dog = watchdog(decoder, [True], 0.2)
    dog.check()
    assert len(decoder.sent) == 1 and not dog.unresponsive
    time.sleep(0.12)
    assert dog.unresponsive
    dog.check()
    assert decoder.killed == 0 and len(decoder.sent) == 1  # no second ping while one is open
    time.sleep(0.1)
    dog.check()
    assert decoder.killed == 1 and dog.kills == 1 and not dog.unresponsive


def test_a_decoder_that_went_idle_is_forgiven() -> None:
    decoder = ScriptedDecoder()
    has_work = [True]
    dog = watchdog(decoder, has_work, 0.2)
    dog.check()
    has_work[0] = False
    time.sleep(0.25)
    dog.check()
    assert decoder.killed == 0 and not dog.unresponsive


def job_in(status: JobStatus, attempts: int, cancel_requested: bool = False) -> Job:
    job = Job("a" * 32, "transcribe", None, Path("/a"), "a.wav", 0.0, status=status)
    job.attempts, job.cancel_requested = attempts, cancel_requested
    return job


def test_the_job_in_hand_is_retried_once_and_failed_on_a_second_crash() -> None:
    assert fate_after_crash(job_in(JobStatus.PROCESSING, 1)) == Fate(Action.REQUEUE)
    assert fate_after_crash(job_in(JobStatus.PROCESSING, 2)) == Fate(Action.FAIL, CRASHED_TWICE)
    assert fate_after_crash(job_in(JobStatus.PROCESSING, 1, cancel_requested=True)) == Fate(Action.DROP)


def test_requeued_jobs_wait_again_unless_cancelled_or_interrupted_twice() -> None:
    assert fate_on_requeue(job_in(JobStatus.PENDING, 0)) == Fate(Action.KEEP)
    assert fate_on_requeue(job_in(JobStatus.PROCESSING, 1)) == Fate(Action.REQUEUE)
    assert fate_on_requeue(job_in(JobStatus.PROCESSING, 2)) == Fate(Action.FAIL, INTERRUPTED_TWICE)
    assert fate_on_requeue(job_in(JobStatus.PENDING, 1, cancel_requested=True)) == Fate(Action.DROP)
