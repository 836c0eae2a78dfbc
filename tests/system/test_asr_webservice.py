"""whisper-asr-webservice's API as Bazarr's Whisper provider calls it: `requests`, the file in
`audio_file`, raw PCM with encode=false, a (5, 3600) timeout. Real server, decoder and tiny.en."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pysubs2
import pytest
import requests
import srt

from tests.support.server import RunningServer
from tests.support.speech import PARAGRAPHS, concatenated, word_error_rate
from tests.system.test_failing_parts import poll, status_of

pytestmark = pytest.mark.slow

BAZARR_TIMEOUT = (5, 3600)
# Bazarr adds the video's path; the server must ignore what it does not know.
BAZARR_PARAMS = {"task": "transcribe", "language": "en", "video_file": "/movies/film.mkv"}


def raw_pcm(source: Path, *extra: str) -> bytes:
    """The audio as Bazarr sends it with encode=false: 16 kHz mono s16le, no header."""
    pcm = ["-f", "s16le", "-ac", "1", "-ar", "16000", "-"]
    command = ["ffmpeg", "-v", "error", "-i", str(source), *extra, *pcm]
    return subprocess.run(command, check=True, capture_output=True).stdout


@pytest.fixture(scope="module")
def ogg(speech_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ogg") / "talk.ogg"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(speech_dir / "paragraph1.wav"), str(path)], check=True)
    return path


def uploads_left(server: RunningServer) -> list[str]:
    return sorted(path.name for path in (server.data_dir / "uploads").iterdir())


def test_bazarr_subtitles_language_and_connection_test(server: RunningServer, speech_dir: Path) -> None:
    pcm = raw_pcm(speech_dir / "paragraph0.wav")
    answer = requests.post(
        f"{server.url}/asr",
        params={**BAZARR_PARAMS, "encode": "false", "output": "srt"},
        files={"audio_file": pcm},
        timeout=BAZARR_TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/x-subrip"
    assert answer.headers["content-disposition"] == 'attachment; filename="audio_file.srt"'
    subtitles = list(srt.parse(answer.text))
    assert len(subtitles) >= 2 and subtitles[0].start.total_seconds() < 1.0
    assert word_error_rate(PARAGRAPHS[0], " ".join(cue.content for cue in subtitles)) <= 0.10

    detected = requests.post(
        f"{server.url}/detect-language",
        params={"encode": "false", "video_file": "/movies/film.mkv"},
        files={"audio_file": pcm},
        timeout=BAZARR_TIMEOUT,
    )
    assert detected.status_code == 200, detected.text
    body = detected.json()
    assert (body["detected_language"], body["language_code"]) == ("english", "en")
    assert 0.0 < body["confidence"] <= 1.0

    version = requests.get(f"{server.url}/status", timeout=BAZARR_TIMEOUT)
    assert version.status_code == 200 and version.json()["version"]
    # Inside, /asr was an ordinary job: it is listed, finished, under the upload's name.
    listed = httpx.get(f"{server.url}/api/v1/tasks", timeout=30).json()["tasks"]
    assert any(task["original_file_name"] == "audio_file" and task["status"] == "finished" for task in listed)


def check_output(output: str, answer: requests.Response) -> str:
    """The text of one /asr output, after checking its form; returns the words."""
    body = answer.text
    if output == "json":
        assert answer.headers["content-type"] == "application/json"
        document: dict[str, Any] = json.loads(body)
        assert document["language"] == "en" and document["segments"]
        return str(document["text"])
    if output == "srt":
        return " ".join(cue.content for cue in srt.parse(body))
    if output == "vtt":
        assert answer.headers["content-type"].startswith("text/vtt") and body.startswith("WEBVTT\n")
        return " ".join(line for line in body.splitlines()[1:] if line and "-->" not in line)
    if output == "ass":
        return " ".join(event.plaintext.replace("\n", " ") for event in pysubs2.SSAFile.from_string(body))
    if output == "lrc":
        return " ".join(line.split("]", 1)[1] for line in body.splitlines()[1:])
    if output == "tsv":
        assert answer.headers["content-type"].startswith("text/tab-separated-values")
        header, *rows = [line.split("\t") for line in body.splitlines()]
        assert header == ["start", "end", "text"] and all(len(row) == 3 for row in rows)
        return " ".join(row[2] for row in rows)
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    return body


@pytest.mark.parametrize("output", ["txt", "text", "vtt", "srt", "tsv", "json", "ass", "lrc"])
def test_every_output_of_an_encoded_upload(server: RunningServer, ogg: Path, output: str) -> None:
    # The subtitle outputs take the style's fields; the others leave them alone.
    styled = {"style": "netflix"} if output in ("srt", "ass") else {}
    with ogg.open("rb") as audio:
        answer = requests.post(
            f"{server.url}/asr",
            params={**BAZARR_PARAMS, "encode": "true", "output": output, "word_timestamps": "true", **styled},
            files={"audio_file": ("talk.ogg", audio)},
            timeout=BAZARR_TIMEOUT,
        )
    assert answer.status_code == 200, answer.text
    suffix = "txt" if output == "text" else output
    assert answer.headers["content-disposition"] == f'attachment; filename="talk.ogg.{suffix}"'
    assert word_error_rate(PARAGRAPHS[1], check_output(output, answer)) <= 0.10


@pytest.mark.parametrize(
    ("params", "files", "words"),
    [
        ({"output": "srt"}, {"file": b"\0" * 3200}, "audio_file"),
        ({"output": "docx"}, {"audio_file": b"\0" * 3200}, "output must be one of"),
        ({"task": "summarise"}, {"audio_file": b"\0" * 3200}, "task must be one of"),
        ({"output": "srt", "style": "bbc"}, {"audio_file": b"\0" * 3200}, "style must be one of"),
        ({"output": "vtt", "max_line_width": "0"}, {"audio_file": b"\0" * 3200}, "max_line_width"),
        ({"encode": "maybe"}, {"audio_file": b"\0" * 3200}, "encode must be true or false"),
        ({"encode": "false"}, {"audio_file": b""}, "audio"),
        ({"encode": "true"}, {"audio_file": b"not audio at all" * 100}, "audio"),
    ],
)
def test_bad_requests_are_clear_4xx_and_leave_nothing(
    server: RunningServer, params: dict[str, str], files: dict[str, bytes], words: str
) -> None:
    before = uploads_left(server)
    # /detect-language has no output or task to get wrong.
    paths = ["/asr"] if "output" in params or "task" in params else ["/asr", "/detect-language"]
    for path in paths:
        answer = requests.post(f"{server.url}{path}", params=params, files=files, timeout=BAZARR_TIMEOUT)
        assert answer.status_code == 400, answer.text
        assert words in answer.json()["error"]["message"]
    assert uploads_left(server) == before


@pytest.fixture(scope="module")
def long_recording(speech_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All four paragraphs three times over: a task that holds the decoder a while."""
    parts = [speech_dir / f"paragraph{i % 4}.wav" for i in range(12)]
    return concatenated(parts, tmp_path_factory.mktemp("long") / "long.opus", "-b:a", "24k")


def test_a_20_mb_upload_is_read_at_once_while_the_decoder_is_busy(
    server: RunningServer, long_recording: Path, speech_dir: Path
) -> None:
    # One paragraph, then ten minutes of silence: 20 MB of PCM that costs little to decode.
    pcm = raw_pcm(speech_dir / "paragraph3.wav", "-af", "apad=whole_dur=660")
    assert len(pcm) >= 20_000_000
    with server.client() as client, long_recording.open("rb") as audio:
        long_task = client.post("/api/v1/transcribe", files={"file": audio}).json()["task_id"]
        poll(lambda: status_of(client, long_task) == "processing", "the long task's start")
        answers: list[requests.Response | BaseException] = []

        def bazarr() -> None:
            try:
                params = {**BAZARR_PARAMS, "encode": "false", "output": "txt"}
                files = {"audio_file": pcm}
                answers.append(
                    requests.post(f"{server.url}/asr", params=params, files=files, timeout=BAZARR_TIMEOUT)
                )
            except BaseException as exc:  # a connection error is what this test is about
                answers.append(exc)

        caller = threading.Thread(target=bazarr)
        caller.start()

        def queued_behind_the_long_task() -> bool:
            tasks = client.get("/api/v1/tasks").json()["tasks"]
            waiting = [
                task
                for task in tasks
                if (task["original_file_name"], task["status"]) == ("audio_file", "pending")
            ]
            return bool(waiting) and status_of(client, long_task) == "processing"

        # The whole body was read and the job queued while the long task still decodes.
        poll(queued_behind_the_long_task, "the upload queued while the decoder is busy")
        # Its turn comes once the long task is gone (cancelled while it decodes: 202).
        assert client.delete(f"/api/v1/tasks/{long_task}").status_code == 202
        caller.join(timeout=600)
    assert not caller.is_alive() and len(answers) == 1
    answer = answers[0]
    assert isinstance(answer, requests.Response), answer
    assert answer.status_code == 200, answer.text
    assert word_error_rate(PARAGRAPHS[3], answer.text) <= 0.10
