"""Long recordings through the real server, decoder, model and ffmpeg: the decoder's peak memory
on a 2-hour and a 10-hour file is that of a 5-minute one, and MAX_AUDIO_DURATION_S refuses a
file longer than it before anything is queued.

The 2-hour recording starts like the 5-minute one (its first six paragraphs, where their
transcripts are compared), then says one paragraph every ten minutes,
with silence between: the stretches of silence are streamed and surveyed like speech, but not
decoded (decoder.audio.silence), which keeps the test to minutes. The benchmark measures the memory
of recordings that are speech throughout (bench/long_files.py).

With `vad_filter` and `diarize`, two passes over the whole file come on top of the decoding
(decoder.audio.voice_activity, decoder.speakers.diarize): the 2-hour file is decoded with both on
faster-whisper, the engine with VAD, and its peak memory held to the same bound.

On faster-whisper, a 2-hour stereo call with a party per channel (channels=split) is held to
the same bound: its channels are decoded one after the other, each streamed as a mono file is.

The 10-hour silent file goes through one engine only: the survey that reads it is the same code
on both (decoder.audio.spectrogram), and it costs minutes of ffmpeg and spectrogram work per engine.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import RunningServer, start_server, wait_for_task
from tests.support.speech import PARAGRAPHS, concatenated, duration_s, word_error_rate
from tests.system.test_durability import decoder_status, upload

pytestmark = pytest.mark.slow

# The bound: a long file may cost the decoder this much more than a 5-minute one.
MEMORY_BOUND_MB = 300
FIVE_MINUTE_PARAGRAPHS = 18
# The opening the 2-hour recording shares with the 5-minute one.
SHARED_PARAGRAPHS = 6
# The last half minute of the shared opening is not compared: what follows it differs.
UNSHARED_END_S = 30
UNIT_S = 600
TWO_HOURS_S = 7200
TEN_HOURS_S = 36000
TEN_HOURS_ENGINE = "faster-whisper"
# When the second party of the 2-hour stereo call speaks.
SECOND_PARTY_S = 3600
# What a task asks for that passes over the whole file besides the decoding; one voice speaks.
VAD_AND_SPEAKERS = {"vad_filter": "true", "diarize": "true", "num_speakers": "1"}
# Generous for a busy machine: the 2-hour file decodes about 7 minutes of speech.
LONG_DECODE_DEADLINE_S = 2400.0


@pytest.fixture(scope="module")
def recordings(speech_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("long")
    paragraphs = [speech_dir / f"paragraph{index}.wav" for index in range(len(PARAGRAPHS))]
    gaps = []
    for index, paragraph in enumerate(paragraphs):
        gap = directory / f"gap{index}.wav"
        silence = [
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=22050:cl=mono",
            "-t",
            f"{UNIT_S - duration_s(paragraph):.3f}",
        ]
        subprocess.run(["ffmpeg", "-v", "error", *silence, "-c:a", "pcm_s16le", str(gap)], check=True)
        gaps.append(gap)
    opening = [paragraphs[index % len(paragraphs)] for index in range(FIVE_MINUTE_PARAGRAPHS)]
    # libopus's fastest setting encodes two hours in seconds instead of minutes.
    encoding = ("-b:a", "24k", "-compression_level", "0")
    five = concatenated(opening, directory / "five-minutes.opus", *encoding)
    shared = opening[:SHARED_PARAGRAPHS]
    shared_s = sum(duration_s(part) for part in shared)
    units = int(TWO_HOURS_S - shared_s) // UNIT_S
    spoken = [index % len(paragraphs) for index in range(units)]
    rest = [part for index in spoken for part in (paragraphs[index], gaps[index])]
    two = concatenated([*shared, *rest], directory / "two-hours.opus", *encoding)
    ten = directory / "ten-hours.opus"
    # The command, with libopus's fastest settings: the same silence in a tenth of the time.
    source = ["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", str(TEN_HOURS_S)]
    fast = ["-compression_level", "0", "-frame_duration", "60"]
    subprocess.run(
        ["ffmpeg", "-v", "error", *source, "-c:a", "libopus", "-b:a", "6k", *fast, str(ten)], check=True
    )
    # A 2-hour call with a channel per party: one speaks at the start, the other an hour in.
    # FLAC: Opus at a low bit rate codes stereo as one channel and its balance, so each party
    # would be heard, faintly, on the other's channel too.
    stereo = directory / "two-hours-stereo.flac"
    lanes = [
        f"[{index}]aresample=24000,aformat=sample_fmts=s16:channel_layouts=mono,"
        f"adelay={delay_s * 1000},apad,atrim=0:{TWO_HOURS_S}[c{index}]"
        for index, delay_s in enumerate((0, SECOND_PARTY_S))
    ]
    call = ";".join([*lanes, "[c0][c1]join=inputs=2:channel_layout=stereo:map=0.0-FL|1.0-FR[out]"])
    parties = ["-i", str(paragraphs[0]), "-i", str(paragraphs[1])]
    output = ["-map", "[out]", "-c:a", "flac", str(stereo)]
    subprocess.run(["ffmpeg", "-v", "error", *parties, "-filter_complex", call, *output], check=True)
    two_hours_text = " ".join(
        [*(PARAGRAPHS[i % 4] for i in range(SHARED_PARAGRAPHS)), *(PARAGRAPHS[i] for i in spoken)]
    )
    overlap_s = shared_s - UNSHARED_END_S
    return {
        "five": five,
        "two": two,
        "ten": ten,
        "stereo": stereo,
        "two_hours_text": two_hours_text,
        "overlap_s": overlap_s,
    }


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def segments_before(client: httpx.Client, task_id: str, end_s: float) -> str:
    document = client.get(f"/api/v1/tasks/{task_id}/result", params={"format": "json"}).json()
    return " ".join(segment["text"] for segment in document["segments"] if segment["start"] < end_s)


@pytest.fixture
def long_server(engine_name: str, tmp_path: Path, model_dir: Path) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path / "home", model_dir, ENGINE=engine_name, CPU_THREADS="2", MAX_AUDIO_DURATION_S="0"
    )
    yield running
    running.stop()


def test_long_recordings_cost_the_memory_of_a_short_one(
    engine_name: str, long_server: RunningServer, recordings: dict[str, Any]
) -> None:
    with long_server.client(timeout=120) as client:
        pid = decoder_status(client)["pid"]
        five = wait_for_task(client, upload(client, recordings["five"]))
        assert five["status"] == "finished", five
        five_minutes_mb = peak_rss_mb(pid)
        two = wait_for_task(client, upload(client, recordings["two"]), LONG_DECODE_DEADLINE_S)
        assert two["status"] == "finished", two
        two_hours_mb = peak_rss_mb(pid)
        if engine_name == TEN_HOURS_ENGINE:
            ten = wait_for_task(client, upload(client, recordings["ten"]), LONG_DECODE_DEADLINE_S)
            assert ten["status"] == "finished", ten
            assert ten["transcript"] == ""
            assert float(ten["audio_duration"]) == pytest.approx(TEN_HOURS_S, abs=1)
            ten_hours_mb = peak_rss_mb(pid)
            assert ten_hours_mb - five_minutes_mb <= MEMORY_BOUND_MB, (five_minutes_mb, ten_hours_mb)
            # channels=split: each channel in a pass of its own, the memory of one.
            call = wait_for_task(
                client, upload(client, recordings["stereo"], {"channels": "split"}), LONG_DECODE_DEADLINE_S
            )
            assert call["status"] == "finished", call
            split_mb = peak_rss_mb(pid)
            assert split_mb - five_minutes_mb <= MEMORY_BOUND_MB, (five_minutes_mb, split_mb)
            check_call(client, call["task_id"])
        assert decoder_status(client)["pid"] == pid
        opening_of_two = segments_before(client, two["task_id"], recordings["overlap_s"])
        opening_of_five = segments_before(client, five["task_id"], recordings["overlap_s"])
    assert two_hours_mb - five_minutes_mb <= MEMORY_BOUND_MB, (five_minutes_mb, two_hours_mb)
    assert float(two["audio_duration"]) == pytest.approx(TWO_HOURS_S, abs=UNIT_S)
    assert word_error_rate(recordings["two_hours_text"], str(two["transcript"])) <= 0.10
    assert word_error_rate(opening_of_five, opening_of_two) <= 0.02


def check_call(client: httpx.Client, task_id: str) -> None:
    """Both parties of the 2-hour stereo call, each on its channel, where they spoke."""
    document = client.get(f"/api/v1/tasks/{task_id}/result", params={"format": "json"}).json()
    for channel, paragraph, start_s in ((0, PARAGRAPHS[0], 0), (1, PARAGRAPHS[1], SECOND_PARTY_S)):
        own = [segment for segment in document["segments"] if segment["channel"] == channel]
        assert own and all(segment["speaker"] == f"channel {channel}" for segment in own)
        # Whisper's first timestamp in a window may fall a little before the speech.
        assert start_s - 5 <= own[0]["start"] < start_s + UNIT_S
        assert word_error_rate(paragraph, " ".join(segment["text"] for segment in own)) <= 0.10


def test_audio_over_the_limit_is_refused_before_it_is_queued(
    tmp_path: Path, model_dir: Path, recordings: dict[str, Any]
) -> None:
    server = start_server(
        tmp_path / "home", model_dir, ENGINE="faster-whisper", MAX_AUDIO_DURATION_S=str(TWO_HOURS_S)
    )
    try:
        with server.client(timeout=120) as client:
            with recordings["ten"].open("rb") as audio:
                refused = client.post("/api/v1/transcribe", files={"file": ("ten-hours.opus", audio)})
            listed = client.get("/api/v1/tasks").json()
    finally:
        server.stop()
    assert refused.status_code == 413, refused.text
    assert "MAX_AUDIO_DURATION_S" in refused.json()["error"]["message"]
    assert listed["tasks"] == []
    assert not any((server.data_dir / "uploads").iterdir())


def test_vad_and_speakers_cost_the_memory_of_a_short_one(
    tmp_path: Path, model_dir: Path, recordings: dict[str, Any]
) -> None:
    server = start_server(
        tmp_path / "home", model_dir, ENGINE="faster-whisper", CPU_THREADS="2", MAX_AUDIO_DURATION_S="0"
    )
    try:
        with server.client(timeout=120) as client:
            pid = decoder_status(client)["pid"]
            five = wait_for_task(client, upload(client, recordings["five"], VAD_AND_SPEAKERS))
            five_minutes_mb = peak_rss_mb(pid)
            two_id = upload(client, recordings["two"], VAD_AND_SPEAKERS)
            two = wait_for_task(client, two_id, LONG_DECODE_DEADLINE_S)
            two_hours_mb = peak_rss_mb(pid)
            assert decoder_status(client)["pid"] == pid
            document = client.get(f"/api/v1/tasks/{two_id}/result", params={"format": "json"}).json()
    finally:
        server.stop()
    assert five["status"] == "finished", five
    assert two["status"] == "finished", two
    assert two_hours_mb - five_minutes_mb <= MEMORY_BOUND_MB, (five_minutes_mb, two_hours_mb)
    assert word_error_rate(recordings["two_hours_text"], str(two["transcript"])) <= 0.10
    segments = document["segments"]
    # The times are the file's, not those of its speech end to end (about 7 minutes).
    assert segments[-1]["start"] > TWO_HOURS_S - 2 * UNIT_S
    assert {segment["speaker"] for segment in segments} == {"SPEAKER_00"}
