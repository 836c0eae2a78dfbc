"""channels=split on the real server (decoder.process.channels): a call with one speaker per
channel, built with ffmpeg from two espeak-ng voices reading different paragraphs that overlap
for several seconds, comes back with both parties' words, each under its channel's name, in time
order, through the job API, the OpenAI client and /asr; silent channels add no speaker; a mono
file is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support.server import RunningServer, wait_for_task
from tests.support.speech import PARAGRAPHS, VOICES, speak, word_error_rate
from tests.system.test_durability import upload

pytestmark = pytest.mark.slow

# The right channel starts this long after the left, while the left still speaks (its
# paragraph lasts about 20 s): they overlap for over 10 s.
OVERLAP_DELAY_MS = 6000
# ffmpeg's layouts of the files made here, and their channels in order.
LAYOUTS = {2: ("stereo", ("FL", "FR")), 4: ("4.0", ("FL", "FR", "FC", "BC"))}


def channel_file(path: Path, inputs: list[Path | None], delays_ms: list[int]) -> Path:
    """A WAV with one channel per input (None: silence), each delayed as given."""
    arguments: list[str] = []
    filters: list[str] = []
    for index, (source, delay) in enumerate(zip(inputs, delays_ms, strict=True)):
        if source is None:
            arguments += ["-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono"]
        else:
            arguments += ["-i", str(source)]
        filters.append(
            f"[{index}]aresample=22050,aformat=sample_fmts=s16:channel_layouts=mono,adelay={delay},apad[c{index}]"
        )
    joined = "".join(f"[c{index}]" for index in range(len(inputs)))
    # Each input to its own channel, in order (join would match a mono input's one channel by name).
    layout, names = LAYOUTS[len(inputs)]
    mapping = "|".join(f"{index}.0-{name}" for index, name in enumerate(names))
    joined += f"join=inputs={len(inputs)}:channel_layout={layout}:map={mapping}"
    graph = ";".join([*filters, f"{joined},atrim=0:40[out]"])
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *arguments, "-filter_complex", graph, "-map", "[out]", str(path)],
        check=True,
    )
    return path


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("channels")
    left = speak(PARAGRAPHS[1], directory / "left.wav", voice=VOICES[0])
    right = speak(PARAGRAPHS[3], directory / "right.wav", voice=VOICES[1])
    return channel_file(directory / "call.wav", [left, right], [0, OVERLAP_DELAY_MS])


def party(segment: dict[str, Any], names: tuple[str, str]) -> str:
    """The channel a segment's speaker is, or begins with (diarized within its channel)."""
    speaker = segment["speaker"]
    return next(name for name in names if speaker == name or speaker.startswith(f"{name} "))


def check_parties(segments: list[dict[str, Any]], names: tuple[str, str]) -> None:
    starts = [segment["start"] for segment in segments]
    assert starts == sorted(starts)
    said = {
        name: " ".join(segment["text"] for segment in segments if party(segment, names) == name)
        for name in names
    }
    assert word_error_rate(PARAGRAPHS[1], said[names[0]]) <= 0.10, said
    assert word_error_rate(PARAGRAPHS[3], said[names[1]]) <= 0.10, said
    # They overlap: the right channel speaks before the left has finished.
    first_right = min(segment["start"] for segment in segments if party(segment, names) == names[1])
    last_left = max(segment["end"] for segment in segments if party(segment, names) == names[0])
    assert first_right < last_left


def test_each_channel_is_one_party_in_time_order(server: RunningServer, call: Path) -> None:
    with server.client() as client:
        task = wait_for_task(
            client, upload(client, call, {"channels": "split", "channel_names": "Agent, Caller"})
        )
        assert task["status"] == "finished", task
        result = client.get(f"/api/v1/tasks/{task['task_id']}/result", params={"format": "json"}).json()
        assert result["speakers"] == ["Agent", "Caller"]
        assert {segment["channel"] for segment in result["segments"]} == {0, 1}
        assert all(
            segment["speaker"] == ("Agent", "Caller")[segment["channel"]] for segment in result["segments"]
        )
        check_parties(result["segments"], ("Agent", "Caller"))
        vtt = client.get(f"/api/v1/tasks/{task['task_id']}/result", params={"format": "vtt"}).text
        assert "<v Agent>" in vtt and "<v Caller>" in vtt
        srt = client.get(f"/api/v1/tasks/{task['task_id']}/result", params={"format": "srt"}).text
        assert "Agent: " in srt and "Caller: " in srt


def test_silent_channels_add_no_speaker(server: RunningServer, call: Path, tmp_path: Path) -> None:
    left = tmp_path / "left.wav"
    right = tmp_path / "right.wav"
    for channel, target in ((0, left), (1, right)):
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(call), "-af", f"pan=mono|c0=c{channel}", str(target)],
            check=True,
        )
    four = channel_file(tmp_path / "four.wav", [None, left, None, right], [0, 0, 0, 0])
    with server.client() as client:
        task = wait_for_task(client, upload(client, four, {"channels": "split"}))
        assert task["status"] == "finished", task
        result = client.get(f"/api/v1/tasks/{task['task_id']}/result", params={"format": "json"}).json()
    assert result["speakers"] == ["channel 1", "channel 3"]
    check_parties(result["segments"], ("channel 1", "channel 3"))


def test_the_openai_client_and_asr_split_channels(server: RunningServer, call: Path) -> None:
    openai_client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-checked", max_retries=0)
    with openai_client as client, call.open("rb") as audio:
        answer = client.audio.transcriptions.create(
            model="whisper-1",
            file=audio,
            response_format="diarized_json",
            extra_body={"channels": "split", "channel_names": "Agent,Caller"},
        )
    segments = [segment.model_dump() for segment in answer.segments]
    # diarized_json asks for speakers: they are told apart within each channel, one voice each.
    assert {segment["speaker"] for segment in segments} == {"Agent SPEAKER_00", "Caller SPEAKER_00"}
    check_parties(segments, ("Agent", "Caller"))
    with server.client() as client, call.open("rb") as audio:
        asr = client.post(
            "/asr",
            params={"output": "json", "channels": "split"},
            files={"audio_file": ("call.wav", audio)},
        )
    assert asr.status_code == 200, asr.text
    check_parties(asr.json()["segments"], ("channel 0", "channel 1"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"channels": "split"}, "this one has 1"),
        ({"channels": "both"}, "channels must be one of mix, split"),
        ({"channel_names": "A,B"}, "channel_names names the channels of channels=split"),
    ],
)
def test_a_mono_file_or_a_bad_field_is_refused(
    server: RunningServer, speech_dir: Path, fields: dict[str, str], message: str
) -> None:
    with server.client() as client, (speech_dir / "paragraph0.wav").open("rb") as audio:
        refused = client.post("/api/v1/transcribe", files={"file": ("mono.wav", audio)}, data=fields)
    assert refused.status_code == 400 and message in refused.json()["error"]["message"], refused.text
