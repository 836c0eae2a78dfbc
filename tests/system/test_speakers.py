"""Who said what, end to end: the real server, decoder, tiny.en, speaker encoder and ffmpeg, on a
dialogue of two espeak-ng voices taking turns."""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import srt
from openai import OpenAI
from openai.types.audio import TranscriptionTextDoneEvent

from tests.support.onnx_encoder import build_encoder
from tests.support.server import RunningServer, start_server, wait_for_task
from tests.support.speech import VOICES, Turn, dialogue, normalise, speak

pytestmark = pytest.mark.slow

REFERENCE_TEXT = "Please call me back tomorrow afternoon, when you have a moment to talk about our plans."
# How far a speaker change may be from the true turn boundary.
BOUNDARY_TOLERANCE_S = 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("server"), model_dir, ENGINE="faster-whisper")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Turn]]:
    return dialogue(tmp_path_factory.mktemp("dialogue"))


def transcribed(server: RunningServer, path: Path, fields: dict[str, str]) -> str:
    """The id of the finished task that transcribed `path` with these form fields."""
    with server.client() as client:
        response = client.post(
            "/api/v1/transcribe", files={"file": (path.name, path.read_bytes())}, data=fields
        )
        assert response.status_code == 200, response.text
        task_id: str = response.json()["task_id"]
        ended = wait_for_task(client, task_id)
        assert ended["status"] == "finished", ended
    return task_id


@pytest.fixture(scope="module")
def labelled(server: RunningServer, talk: tuple[Path, list[Turn]]) -> str:
    """The task id of the dialogue, transcribed with diarize=true."""
    return transcribed(server, talk[0], {"diarize": "true"})


def result(server: RunningServer, task_id: str, fmt: str) -> str:
    with server.client() as client:
        response = client.get(f"/api/v1/tasks/{task_id}/result", params={"format": fmt})
        assert response.status_code == 200, response.text
        return response.text


def voice_at(turns: list[Turn], moment: float) -> str | None:
    return next((turn.voice for turn in turns if turn.start - 0.2 <= moment <= turn.end + 0.2), None)


def label_map(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Each label to the voice it most often stands for."""
    counts = Counter(pairs)
    return {label: max(VOICES, key=lambda voice: counts[(label, voice)]) for label, _ in counts}


def test_two_voices_are_told_apart_word_by_word(
    server: RunningServer, talk: tuple[Path, list[Turn]], labelled: str
) -> None:
    _, turns = talk
    document: dict[str, Any] = json.loads(result(server, labelled, "json"))
    assert len(document["speakers"]) == 2, document["speakers"]
    words = [
        (word["speaker"], voice_at(turns, (word["start"] + word["end"]) / 2)) for word in document["words"]
    ]
    placed = [(label, voice) for label, voice in words if voice is not None]
    assert len(placed) >= 0.9 * len(words)
    mapping = label_map(placed)
    assert set(mapping.values()) == set(VOICES), mapping
    right = sum(mapping[label] == voice for label, voice in placed)
    assert right >= 0.9 * len(words), f"{right} of {len(words)} words have the right speaker"
    # Every segment is one speaker's, and the words spell the transcript.
    for segment in document["segments"]:
        assert segment["speaker"] in document["speakers"]
    said = " ".join(turn.text for turn in turns)
    assert len(set(normalise(document["text"]).split()) & set(normalise(said).split())) > 60


def test_speaker_changes_land_on_the_turns(
    server: RunningServer, talk: tuple[Path, list[Turn]], labelled: str
) -> None:
    _, turns = talk
    segments = json.loads(result(server, labelled, "json"))["segments"]
    changes = [
        after["start"]
        for before, after in itertools.pairwise(segments)
        if before["speaker"] != after["speaker"]
    ]
    boundaries = [turn.start for turn in turns[1:]]
    assert len(changes) == len(boundaries), (changes, boundaries)
    for change, boundary in zip(changes, boundaries, strict=True):
        assert abs(change - boundary) <= BOUNDARY_TOLERANCE_S, (change, boundary)


def test_every_format_carries_the_labels(server: RunningServer, labelled: str) -> None:
    speakers = json.loads(result(server, labelled, "json"))["speakers"]
    subtitles = list(srt.parse(result(server, labelled, "srt")))
    assert subtitles
    heard_srt = {cue.content.split(": ", 1)[0] for cue in subtitles}
    assert heard_srt == set(speakers), heard_srt

    vtt = result(server, labelled, "vtt")
    cues = [block.splitlines() for block in vtt.split("\n\n")[1:] if block.strip()]
    assert cues
    voices = {line.split(">", 1)[0].removeprefix("<v ") for _, line, *_ in cues}
    assert all(line.startswith("<v ") for _, line, *_ in cues), vtt
    assert voices == set(speakers)

    lines = result(server, labelled, "txt").splitlines()
    assert {line.split("] ", 1)[0].removeprefix("[") for line in lines} == set(speakers)

    rows = [row.split("\t") for row in result(server, labelled, "tsv").splitlines()]
    assert rows[0] == ["start", "end", "text", "speaker"]
    assert {row[3] for row in rows[1:]} == set(speakers)


def test_one_speaker_when_told_so(server: RunningServer, talk: tuple[Path, list[Turn]]) -> None:
    task_id = transcribed(server, talk[0], {"diarize": "true", "num_speakers": "1"})
    document = json.loads(result(server, task_id, "json"))
    assert document["speakers"] == ["SPEAKER_00"]
    assert {segment["speaker"] for segment in document["segments"]} == {"SPEAKER_00"}


def data_url(path: Path) -> str:
    return "data:audio/wav;base64," + base64.b64encode(path.read_bytes()).decode()


def test_known_speakers_are_named_through_the_openai_client(
    server: RunningServer, talk: tuple[Path, list[Turn]], tmp_path: Path
) -> None:
    path, turns = talk
    # Each voice reads a text the dialogue does not hold (a reference is a voice, not words),
    # a few seconds long, as OpenAI's references are.
    references = [speak(REFERENCE_TEXT, tmp_path / f"{voice}.wav", voice=voice) for voice in VOICES]
    names = {"en-us": "Bob", "en+f3": "Ann"}
    client = OpenAI(base_url=f"{server.url}/v1", api_key="unused")
    with path.open("rb") as audio:
        answer = client.audio.transcriptions.create(
            file=audio,
            model="whisper-1",
            response_format="diarized_json",
            known_speaker_names=[names[voice] for voice in VOICES],
            known_speaker_references=[data_url(reference) for reference in references],
        )
    body = answer.model_dump()
    segments = body["segments"]
    assert {segment["type"] for segment in segments} == {"transcript.text.segment"}
    assert {segment["speaker"] for segment in segments} == {"Bob", "Ann"}
    right = sum(
        names.get(voice_at(turns, (segment["start"] + segment["end"]) / 2) or "", "") == segment["speaker"]
        for segment in segments
    )
    assert right >= 0.9 * len(segments), segments


def test_speakers_can_be_renamed_in_every_format(server: RunningServer, labelled: str) -> None:
    with server.client() as client:
        url = f"/api/v1/tasks/{labelled}/speakers"
        renamed = client.put(url, json={"SPEAKER_00": "Interviewer"})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["speakers"] == ["Interviewer", "SPEAKER_01"]
        assert client.put(url, json={"SPEAKER_07": "Nobody"}).status_code == 400
        assert client.put(url, json={"SPEAKER_01": "Interviewer"}).status_code == 400
        assert client.put(url, content=b"not json").status_code == 400
        assert client.put(url, content=b"[" * 50_000).status_code == 400
        assert client.put(url, json={"SPEAKER_01": "\u200b"}).status_code == 400
        first = next(srt.parse(client.get(f"/api/v1/tasks/{labelled}/result", params={"format": "srt"}).text))
        assert first.content.startswith("Interviewer: ")
        assert client.put(url, json={"Interviewer": "SPEAKER_00"}).status_code == 200


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"min_speakers": "2"}, "min_speakers"),
        ({"diarize": "true", "num_speakers": "0"}, "num_speakers"),
        ({"diarize": "true", "min_speakers": "3", "max_speakers": "2"}, "min_speakers"),
        ({"diarize": "true", "num_speakers": "2", "max_speakers": "2"}, "num_speakers"),
        ({"diarize": "maybe"}, "diarize"),
        ({"diarize": "true", "known_speaker_names[]": "Ann"}, "known_speaker_names"),
        (
            {
                "diarize": "true",
                "known_speaker_names[]": "Ann",
                "known_speaker_references[]": "data:audio/wav;base64,!!",
            },
            "known_speaker_references",
        ),
    ],
)
def test_bad_speaker_options_are_refused_and_leave_nothing(
    server: RunningServer, talk: tuple[Path, list[Turn]], fields: dict[str, str], param: str
) -> None:
    path, _ = talk
    with server.client() as client:
        before = client.get("/api/v1/tasks").json()["tasks"]
        response = client.post(
            "/api/v1/transcribe", files={"file": (path.name, path.read_bytes())}, data=fields
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param, response.text
        assert client.get("/api/v1/tasks").json()["tasks"] == before
    uploads = server.data_dir / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir()), list(uploads.iterdir())


def test_asr_webservice_labels_speakers(server: RunningServer, talk: tuple[Path, list[Turn]]) -> None:
    path, _ = talk
    response = httpx.post(
        f"{server.url}/asr",
        params={"output": "srt", "diarize": "true", "min_speakers": "1", "max_speakers": "3"},
        files={"audio_file": (path.name, path.read_bytes())},
        timeout=600,
    )
    assert response.status_code == 200, response.text
    assert {cue.content.split(": ", 1)[0] for cue in srt.parse(response.text)} == {"SPEAKER_00", "SPEAKER_01"}


def test_an_encoder_imported_from_onnx_labels_speakers(
    tmp_path: Path, model_dir: Path, talk: tuple[Path, list[Turn]]
) -> None:
    """A user's own encoder: imported with the CLI, chosen with SPEAKER_ENCODER, run by the
    decoder on onnxruntime. The toy model knows nothing of voices, so only the count is asked."""
    source = build_encoder(tmp_path / "toy.onnx")
    imported = subprocess.run(
        [sys.executable, "-m", "whisper_api", "import-model", str(source), "--name", "toy"],
        env={**os.environ, "MODEL_DIR": str(model_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    assert (model_dir / "speakers" / "toy.onnx").is_file()
    running = start_server(tmp_path / "server", model_dir, ENGINE="faster-whisper", SPEAKER_ENCODER="toy")
    try:
        task_id = transcribed(running, talk[0], {"diarize": "true", "num_speakers": "2"})
        document = json.loads(result(running, task_id, "json"))
    finally:
        running.stop()
    assert document["speakers"] == ["SPEAKER_00", "SPEAKER_01"]


def test_a_server_without_its_encoder_refuses_speakers(
    tmp_path: Path, model_dir: Path, talk: tuple[Path, list[Turn]]
) -> None:
    path, _ = talk
    running = start_server(tmp_path / "server", model_dir, SPEAKER_ENCODER="absent")
    try:
        with running.client() as client:
            response = client.post(
                "/api/v1/transcribe", files={"file": (path.name, path.read_bytes())}, data={"diarize": "true"}
            )
            assert response.status_code == 400, response.text
            assert response.json()["error"]["param"] == "diarize"
            assert "no speaker encoder" in response.json()["error"]["message"]
            # Without diarize the same upload is a task as usual.
            plain = client.post("/api/v1/transcribe", files={"file": (path.name, path.read_bytes())})
            assert plain.status_code == 200, plain.text
    finally:
        running.stop()


def test_a_streamed_diarized_transcription_ends_with_its_speakers_segments(
    server: RunningServer, talk: tuple[Path, list[Turn]]
) -> None:
    path, _ = talk
    client = OpenAI(base_url=f"{server.url}/v1", api_key="unused")
    with path.open("rb") as audio:
        events = list(
            client.audio.transcriptions.create(
                file=audio, model="whisper-1", response_format="diarized_json", stream=True
            )
        )
    kinds = [event.type for event in events]
    assert kinds[-1] == "transcript.text.done" and "transcript.text.delta" in kinds, kinds
    segments = [event for event in events if event.type == "transcript.text.segment"]
    assert kinds.index("transcript.text.segment") > max(
        i for i, kind in enumerate(kinds) if kind == "transcript.text.delta"
    )
    assert {segment.speaker for segment in segments} == {"SPEAKER_00", "SPEAKER_01"}
    done = events[-1]
    assert isinstance(done, TranscriptionTextDoneEvent)
    deltas = "".join(event.delta for event in events if event.type == "transcript.text.delta")
    assert deltas == done.text
    assert " ".join(segment.text for segment in segments) == done.text
