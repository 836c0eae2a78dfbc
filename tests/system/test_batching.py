"""Short files batched across tasks, with the real server, decoder, faster-whisper and ffmpeg:
the batched results are the words of one-by-one decoding, a file that cannot be read fails
alone, and a task cancelled while its batch decodes is gone while the rest of its batch ends.

Batches form from what waits: the tasks are queued behind a long recording, which is then
cancelled, so that all of them wait when the decoder comes free and the batches are known.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, start_server, wait_for_task
from tests.support.speech import PARAGRAPHS, short_clips, speak, word_error_rate
from tests.system.test_durability import decoder_status, upload
from tests.system.test_failing_parts import poll, status_of

pytestmark = pytest.mark.slow

BATCH_FILES = 8
CLIPS = 16
# Where the unreadable file goes in the queue: into the first batch.
DAMAGED_AT = 3
# The task (the third of the second batch) that is cancelled while its batch decodes.
CANCELLED_AT = BATCH_FILES + 2
BATCHED = re.compile(r"decoding task ([0-9a-f]{8})\S* \(transcribe\) in a batch of (\d+)")


@pytest.fixture(scope="module")
def batch_server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("batching")
    settings = {"ENGINE": "faster-whisper", "CPU_THREADS": "2", "LOG_PRIVACY_MODE": "0"}
    running = start_server(home, model_dir, BATCH_FILES=str(BATCH_FILES), **settings)
    yield running
    running.stop()


def batch_sizes(server: RunningServer) -> dict[str, int]:
    """The batch size each batched task was decoded in, by the first 8 characters of its id."""
    return {match[1]: int(match[2]) for match in BATCHED.finditer(server.log_file.read_text())}


def test_batched_files_have_the_words_of_one_by_one_and_fail_or_cancel_alone(
    batch_server: RunningServer, tmp_path: Path
) -> None:
    clips = short_clips(tmp_path, CLIPS)
    # Four paragraphs, three times: a minute or more to decode, and too long to batch.
    long = speak(" ".join(PARAGRAPHS * 3), tmp_path / "long.wav")
    with batch_server.client(timeout=120) as client:
        pid = decoder_status(client)["pid"]
        # One at a time: nothing else waits, so each is decoded alone.
        one_by_one = [str(wait_for_task(client, upload(client, path))["transcript"]) for path, _ in clips]

        blocker = upload(client, long)
        poll(lambda: status_of(client, blocker) == "processing", "the long task decoding")
        paths = [path for path, _ in clips]
        queued = [upload(client, path) for path in [*paths[:DAMAGED_AT], paths[0], *paths[DAMAGED_AT:]]]
        damaged = queued[DAMAGED_AT]
        # The stored upload is damaged while it waits: the upload check passed, decoding cannot.
        (batch_server.data_dir / "uploads" / f"{damaged}.wav").write_bytes(b"RIFF" + b"\xff" * 4000)
        assert client.delete(f"/api/v1/tasks/{blocker}").status_code == 202

        cancelled = queued[CANCELLED_AT]
        poll(lambda: status_of(client, cancelled) == "processing", "the second batch decoding", 300)
        assert client.delete(f"/api/v1/tasks/{cancelled}").status_code == 202
        ended = {task_id: wait_for_task(client, task_id) for task_id in queued if task_id != cancelled}
        poll(lambda: status_of(client, cancelled) == "gone", "the cancelled task leaving", 60)
        assert decoder_status(client)["pid"] == pid

    sizes = batch_sizes(batch_server)
    assert [sizes.get(task_id[:8]) for task_id in queued[: 2 * BATCH_FILES]] == [BATCH_FILES] * (
        2 * BATCH_FILES
    )
    assert ended[damaged]["status"] == "failed" and "could not be decoded" in ended[damaged]["error"]
    batched = {task_id: str(job["transcript"]) for task_id, job in ended.items() if task_id != damaged}
    assert all(ended[task_id]["status"] == "finished" for task_id in batched)
    clip_tasks = [task_id for task_id in queued if task_id != damaged]
    pairs = [
        (alone, batched[task_id])
        for alone, task_id in zip(one_by_one, clip_tasks, strict=True)
        if task_id in batched
    ]
    assert len(pairs) == CLIPS - 1
    assert word_error_rate(" ".join(alone for alone, _ in pairs), " ".join(b for _, b in pairs)) <= 0.02
    assert word_error_rate(" ".join(text for _, text in clips), " ".join(one_by_one)) <= 0.15
