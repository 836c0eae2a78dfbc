"""The real server over loopback HTTP, with the real decoder process, tiny.en and ffmpeg."""

from __future__ import annotations

import io
import re
import subprocess
import time
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pysubs2
import pytest
import srt
import webvtt

from tests.support.server import STEP_DEADLINE_S, RunningServer, wait_for_task
from tests.support.speech import PARAGRAPHS, speak, word_error_rate
from tests.system.test_failing_parts import poll

pytestmark = pytest.mark.slow

SRT_TIMING = re.compile(r"^\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}$", re.MULTILINE)


@pytest.fixture(scope="module")
def server(engine_server: RunningServer) -> RunningServer:
    """Every test here runs against each engine."""
    return engine_server


def upload(server: RunningServer, path: Path, endpoint: str = "transcribe", **params: str) -> dict[str, Any]:
    with server.client() as client, path.open("rb") as audio:
        response = client.post(f"/api/v1/{endpoint}", files={"file": (path.name, audio)}, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_transcribes_speech_accurately(server: RunningServer, speech_dir: Path) -> None:
    accepted = upload(server, speech_dir / "paragraph0.wav")
    assert accepted["status"] in ("pending", "processing")
    assert isinstance(accepted["task_id"], str) and len(accepted["task_id"]) == 32
    assert accepted["time_uploaded"]
    with server.client() as client:
        result = wait_for_task(client, str(accepted["task_id"]))
    assert result["status"] == "finished", result
    assert word_error_rate(PARAGRAPHS[0], str(result["transcript"])) <= 0.10, result["transcript"]
    assert result["source_language"] == "en"
    assert result["used_model_size"] == "tiny.en"
    assert result["target_model_size"] == "tiny.en"
    assert result["used_device"] == "cpu"
    assert isinstance(result["processing_duration"], float) and result["processing_duration"] > 0
    assert result["time_processing_finished"]
    assert result["position_in_queue"] is None


def test_srt_has_timestamps(server: RunningServer, speech_dir: Path) -> None:
    accepted = upload(server, speech_dir / "paragraph1.wav")
    with server.client() as client:
        wait_for_task(client, str(accepted["task_id"]))
        response = client.get("/api/v1/srt", params={"task_id": accepted["task_id"]})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="paragraph1.srt"'
    timings = SRT_TIMING.findall(response.text)
    assert len(timings) >= 1
    assert response.text.startswith("1\n00:00:0")
    assert (
        word_error_rate(
            PARAGRAPHS[1],
            " ".join(
                line
                for line in response.text.splitlines()
                if line and not line.isdigit() and "-->" not in line
            ),
        )
        <= 0.10
    )


def test_translate_with_english_only_model_returns_english(server: RunningServer, speech_dir: Path) -> None:
    accepted = upload(server, speech_dir / "paragraph2.wav", endpoint="translate")
    assert accepted["task_type"] == "translate"
    with server.client() as client:
        result = wait_for_task(client, str(accepted["task_id"]))
    assert result["status"] == "finished", result
    assert word_error_rate(PARAGRAPHS[2], str(result["transcript"])) <= 0.10


def test_other_language_needs_multilingual_model(server: RunningServer, speech_dir: Path) -> None:
    with server.client() as client, (speech_dir / "paragraph0.wav").open("rb") as audio:
        response = client.post("/api/v1/translate", files={"file": audio}, params={"language": "de"})
    assert response.status_code == 400
    assert "multilingual model" in response.json()["detail"]


def test_video_with_audio_track_is_transcribed(
    server: RunningServer, speech_dir: Path, tmp_path: Path
) -> None:
    video = tmp_path / "clip.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=64x64:r=5",
            "-i",
            str(speech_dir / "paragraph0.wav"),
            "-shortest",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            str(video),
        ],
        check=True,
    )
    accepted = upload(server, video)
    with server.client() as client:
        result = wait_for_task(client, str(accepted["task_id"]))
    assert word_error_rate(PARAGRAPHS[0], str(result["transcript"])) <= 0.10


def test_text_file_is_refused_and_not_kept(server: RunningServer, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not audio\n" * 20)
    before = set((server.data_dir / "uploads").iterdir())
    with server.client() as client, notes.open("rb") as text:
        response = client.post("/api/v1/transcribe", files={"file": text})
    assert response.status_code == 400
    assert "audio" in response.json()["detail"]
    assert set((server.data_dir / "uploads").iterdir()) <= before


def test_a_cut_off_file_a_free_decoder_started_on_is_refused_and_leaves_no_trace(
    server: RunningServer, tmp_path: Path
) -> None:
    """The upload check runs while a free decoder already decodes the upload; when the check
    refuses it, the decoder stops it and nothing of it is left (whisper_api.jobs.tracker.head_start)."""
    speech = speak(" ".join(PARAGRAPHS[:3]), tmp_path / "speech.wav")
    whole = tmp_path / "speech.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(speech), str(whole)], check=True)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with server.client() as client:

        def idle() -> bool:
            ready = client.get("/readyz").status_code == 200
            return ready and not client.get("/api/v1/decoder_status_refresh").json()["currently_busy"]

        def stops() -> int:
            """The decoder's log lines for a task it was told to stop, started or still waiting."""
            log_text = server.log_file.read_text()
            return log_text.count("stopped: it was cancelled") + log_text.count("cancelled waiting task")

        # A head start needs a decoder that is up and free.
        poll(idle, "the decoder being ready and idle")
        listed = client.get("/api/v1/tasks", params={"limit": 200}).json()["tasks"]
        uploads = set((server.data_dir / "uploads").iterdir())
        stopped = stops()
        with cut.open("rb") as audio:
            response = client.post("/api/v1/transcribe", files={"file": ("cut.mp3", audio)})
        assert response.status_code == 400, response.text
        assert "cut off" in response.json()["detail"]
        # The decoder had been handed it: it says it stopped it, and it is free again.
        poll(lambda: stops() > stopped, "the decoder stopping the refused upload")
        poll(idle, "the decoder going idle")
        assert client.get("/api/v1/tasks", params={"limit": 200}).json()["tasks"] == listed
    assert set((server.data_dir / "uploads").iterdir()) <= uploads


def test_unknown_task_id_is_400(server: RunningServer) -> None:
    with server.client() as client:
        response = client.get("/api/v1/status", params={"task_id": "0" * 32})
        srt = client.get("/api/v1/srt", params={"task_id": "0" * 32})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "task_not_found"
    assert srt.status_code == 400


def test_status_answers_quickly_while_decoding(
    server: RunningServer, speech_dir: Path, tmp_path: Path
) -> None:
    long_audio = speak(" ".join(PARAGRAPHS * 3), tmp_path / "long.wav")
    accepted = upload(server, long_audio)
    task_id = str(accepted["task_id"])
    latencies = []
    with server.client() as client:
        deadline = time.monotonic() + STEP_DEADLINE_S
        while client.get("/api/v1/status", params={"task_id": task_id}).json()["status"] != "processing":
            assert time.monotonic() < deadline, "the long task never started"
            time.sleep(0.05)
        for _ in range(10):
            started = time.monotonic()
            response = client.get("/api/v1/status", params={"task_id": task_id})
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200
        # The decoder was still busy with the long task while we measured.
        assert response.json()["status"] == "processing"
        assert client.get("/api/v1/decoder_status").json()["currently_busy"] is True
        wait_for_task(client, task_id)
    assert max(latencies) < 1.0, latencies


def test_decoder_status_and_refresh(server: RunningServer) -> None:
    with server.client() as client:
        status = client.get("/api/v1/decoder_status").json()
        refreshed = client.get("/api/v1/decoder_status_refresh").json()
    for body in (status, refreshed):
        assert body["gpu_mode"] is False
        assert body["max_model_to_use"] == "tiny.en"
        # Unset, ENGINE=auto finds the models' CTranslate2 copies: faster-whisper.
        assert body["engine"] == server.env.get("ENGINE", "faster-whisper")
        assert set(body) >= {
            "last_loaded_model_size",
            "is_model_loaded",
            "currently_busy",
            "tasks_in_queue",
            "received_at",
        }
    # A decoder that has only just started may not have sent a status yet; a refresh waits for one.
    assert refreshed["received_at"] is not None
    assert status["received_at"] is None or refreshed["received_at"] >= status["received_at"]


def test_logs_hold_decoder_lines_but_no_transcripts(server: RunningServer, speech_dir: Path) -> None:
    accepted = upload(server, speech_dir / "paragraph1.wav")
    task_id = str(accepted["task_id"])
    with server.client() as client:
        result = wait_for_task(client, task_id)
        archive = client.get("/api/v1/logs")
    log_text = server.log_file.read_text()
    # Lines written by the decoder process reach the front end's file.
    assert "[decoder-0]" in log_text and "loaded model tiny.en" in log_text
    assert f"task {task_id[:8]}…" in log_text
    # LOG_PRIVACY_MODE=1 (the default): ids shortened, transcripts never logged.
    assert task_id not in log_text
    assert "city council met" not in log_text.lower()
    assert "council" in str(result["transcript"]).lower()
    assert archive.status_code == 200
    assert "whisper_api.log" in zipfile.ZipFile(io.BytesIO(archive.content)).namelist()


def test_version_userinfo_and_login(server: RunningServer) -> None:
    with server.client() as client:
        assert client.get("/api/v1/version").json()["version"]
        info = client.get("/api/v1/userinfo", headers={"X-User": "ada", "X-Email": "ada@example.org"}).json()
        assert info["user"] == "ada" and info["email"] == "ada@example.org"
        assert info["may_download_logs"] is False
        refused = client.get("/api/v1/logs", headers={"X-Email": "ada@example.org"})
        assert refused.status_code == 403
        login = client.get("/api/v1/login", follow_redirects=False)
        assert login.status_code in (302, 303, 307) and login.headers["location"] == "/"


def netflix_checks(cues: list[tuple[int, int, list[str]]]) -> None:
    """Every check of Netflix's timed-text style that can be computed, with the guide's figures:
    2 lines of 42 characters, 5/6 s to 7 s on screen, 2 frames (at 24 fps) apart, and 20
    characters a second."""
    assert cues
    for previous, (start, end, lines) in zip([None, *cues], cues, strict=False):
        assert 1 <= len(lines) <= 2 and all(len(line) <= 42 for line in lines), lines
        assert 834 <= end - start <= 7000, (start, end)
        assert previous is None or start - previous[1] >= 84
        assert len(" ".join(lines)) * 1000 / (end - start) <= 20, lines


def test_subtitles_in_every_format_with_the_netflix_style(server: RunningServer, speech_dir: Path) -> None:
    """A real transcription with word times, as srt, vtt, ass and lrc: each parses with a real
    parser, keeps the style's limits, and holds the words that were said."""
    accepted = upload(server, speech_dir / "paragraph2.wav", word_timestamps="true")
    task_id = str(accepted["task_id"])
    with server.client() as client:
        assert wait_for_task(client, task_id)["status"] == "finished"

        def result(fmt: str, **fields: str) -> str:
            response = client.get(f"/api/v1/tasks/{task_id}/result", params={"format": fmt, **fields})
            assert response.status_code == 200, response.text
            return response.text

        subtitles = list(srt.parse(result("srt", style="netflix")))
        netflix_checks([(ms(s.start), ms(s.end), s.content.splitlines()) for s in subtitles])
        assert word_error_rate(PARAGRAPHS[2], " ".join(s.content for s in subtitles)) <= 0.10
        # The seed's route takes the same fields.
        seed = client.get("/api/v1/srt", params={"task_id": task_id, "style": "netflix"})
        assert list(srt.parse(seed.text)) == subtitles

        captions = webvtt.from_buffer(io.StringIO(result("vtt", style="netflix"))).captions
        netflix_checks([(clock_ms(c.start), clock_ms(c.end), c.text.splitlines()) for c in captions])
        assert word_error_rate(PARAGRAPHS[2], " ".join(c.text for c in captions)) <= 0.10

        events = pysubs2.SSAFile.from_string(result("ass", style="netflix", highlight_words="true")).events
        assert word_error_rate(PARAGRAPHS[2], " ".join(e.plaintext for e in events)) <= 0.10
        assert all(re.search(r"\{\\k\d+\}", event.text) for event in events)

        lrc = result("lrc", style="netflix").splitlines()
        assert all(re.fullmatch(r"\[\d{2,}:\d{2}\.\d{2}\].*", line) for line in lrc[1:]), lrc
        assert word_error_rate(PARAGRAPHS[2], " ".join(line.split("]", 1)[1] for line in lrc[1:])) <= 0.10

        refused = client.get(
            f"/api/v1/tasks/{task_id}/result", params={"format": "srt", "max_chars_per_second": "0"}
        )
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "max_chars_per_second"


def ms(delta: timedelta) -> int:
    return round(delta.total_seconds() * 1000)


def clock_ms(clock: str) -> int:
    hours, minutes, seconds = clock.split(":")
    return round((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000)
