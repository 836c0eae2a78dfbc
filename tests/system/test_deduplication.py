"""One upload decoded once (DEDUPLICATE_UPLOADS): the real server, decoder and tiny.en, with
two API keys."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import RunningServer, start_server, wait_for_task
from tests.support.speech import PARAGRAPHS, word_error_rate
from tests.system.test_failing_parts import poll

pytestmark = pytest.mark.slow

KEYS = ("key-of-ada", "key-of-bob")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("dedup"), model_dir, DEDUPLICATE_UPLOADS="1", API_KEYS=",".join(KEYS)
    )
    yield running
    running.stop()


def decodes(server: RunningServer) -> list[str]:
    """The tasks the decoder started, from its log: their ids' first 8 characters (LOG_PRIVACY_MODE)."""
    return re.findall(r"\] decoding task ([0-9a-f]{8})", server.log_file.read_text())


def at_once(*calls: Any) -> list[Any]:
    """Run the calls in threads started together; their results in order."""
    results: list[Any] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index: int) -> None:
        start.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return results


def test_the_same_upload_at_once_is_decoded_once_per_key(server: RunningServer, speech_dir: Path) -> None:
    audio = (speech_dir / "paragraph2.wav").read_bytes()
    ada, bob = ({"Authorization": f"Bearer {key}"} for key in KEYS)

    def transcribe_openai(headers: dict[str, str]) -> httpx.Response:
        files = {"file": ("talk.wav", audio)}
        return httpx.post(f"{server.url}/v1/audio/transcriptions", files=files, headers=headers, timeout=600)

    def transcribe_job(headers: dict[str, str]) -> httpx.Response:
        files = {"file": ("talk.wav", audio)}
        return httpx.post(f"{server.url}/api/v1/transcribe", files=files, headers=headers, timeout=60)

    first, second, queued = at_once(
        lambda: transcribe_openai(ada), lambda: transcribe_openai(ada), lambda: transcribe_job(ada)
    )
    for answer in (first, second):
        assert answer.status_code == 200, answer.text
        assert word_error_rate(PARAGRAPHS[2], answer.json()["text"]) <= 0.10
    # The job API's caller got the same task, which holds the same transcript.
    with httpx.Client(base_url=server.url, headers=ada, timeout=30) as client:
        task = wait_for_task(client, queued.json()["task_id"])
    assert task["status"] == "finished" and task["transcript"] == first.json()["text"]
    poll(lambda: len(decodes(server)) >= 1, "the decoder's log line")
    assert decodes(server) == [task["task_id"][:8]], "three identical uploads, one decoding"

    # Another key's identical upload is another task, decoded on its own.
    theirs = transcribe_job(bob)
    assert theirs.status_code == 200 and theirs.json()["task_id"] != task["task_id"]
    with httpx.Client(base_url=server.url, headers=bob, timeout=30) as client:
        assert wait_for_task(client, theirs.json()["task_id"])["status"] == "finished"
    poll(lambda: len(decodes(server)) >= 2, "the second decoding's log line")
    assert decodes(server) == [task["task_id"][:8], theirs.json()["task_id"][:8]]
    # A later upload of the kept result costs nothing either; one with other options decodes.
    again = transcribe_job(ada)
    assert again.json()["task_id"] == task["task_id"] and again.json()["status"] == "finished"
    files = {"file": ("talk.wav", audio)}
    other = httpx.post(
        f"{server.url}/api/v1/transcribe",
        files=files,
        data={"word_timestamps": "true"},
        headers=ada,
        timeout=60,
    )
    assert other.json()["task_id"] not in (task["task_id"], theirs.json()["task_id"])


def test_the_same_bytes_read_another_way_are_decoded_again(server: RunningServer, speech_dir: Path) -> None:
    """whisper-asr-webservice's encode=false reads the bytes as headerless PCM: a WAV sent so is
    other audio (its header heard as samples) than the same WAV sent as a file."""
    audio = (speech_dir / "paragraph1.wav").read_bytes()
    ada = {"Authorization": f"Bearer {KEYS[0]}"}
    before = len(decodes(server))
    lengths = []
    for encode in ("false", "true", "false"):
        answer = httpx.post(
            f"{server.url}/asr",
            params={"encode": encode, "output": "json"},
            files={"audio_file": ("talk.wav", audio)},
            headers=ada,
            timeout=600,
        )
        assert answer.status_code == 200, answer.text
        lengths.append(answer.json()["duration"])
    # Each way decoded once: the third upload is the first one's task again.
    poll(lambda: len(decodes(server)) >= before + 2, "both decodings' log lines")
    assert len(decodes(server)) == before + 2
    # espeak-ng's 22.05 kHz read as 16 kHz PCM lasts longer.
    assert lengths[0] == lengths[2] and lengths[0] > 1.2 * lengths[1], lengths
