"""The official `openai` client's streamed transcription and the fields it sends, unchanged,
against the real server, decoder and tiny.en of each engine."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import RunningServer
from tests.speech import PARAGRAPHS, duration_s, word_error_rate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(engine_server: RunningServer) -> RunningServer:
    return engine_server


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-checked", max_retries=0) as client:
        yield client


@pytest.fixture(scope="module")
def three_paragraphs(speech_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About a minute of speech: several of Whisper's windows, so several deltas."""
    directory = tmp_path_factory.mktemp("stream")
    listing = directory / "parts.txt"
    listing.write_text("".join(f"file '{speech_dir / f'paragraph{i}.wav'}'\n" for i in range(3)))
    audio = directory / "three.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing), str(audio)], check=True
    )
    return audio


def test_streamed_deltas_add_up_to_the_done_text(client: openai.OpenAI, three_paragraphs: Path) -> None:
    with three_paragraphs.open("rb") as audio:
        stream = client.audio.transcriptions.create(model="whisper-1", file=audio, stream=True)
        events = list(stream)
    deltas = [event.delta for event in events if event.type == "transcript.text.delta"]
    done = [event for event in events if event.type == "transcript.text.done"]
    assert len(done) == 1 and events[-1] is done[0], [event.type for event in events]
    assert len(deltas) >= 2, "the text arrives window by window, not all at the end"
    assert "".join(deltas) == done[0].text
    assert word_error_rate(" ".join(PARAGRAPHS[:3]), done[0].text) <= 0.10
    # The client reads the done event's usage as token counts: OpenAI's own is per token.
    usage = done[0].model_dump(exclude_none=True)["usage"]
    assert usage == {"type": "duration", "seconds": pytest.approx(duration_s(three_paragraphs), abs=1.0)}


@pytest.mark.parametrize(
    "chunking",
    ["auto", {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}],
)
def test_chunking_strategy_is_accepted(client: openai.OpenAI, speech_dir: Path, chunking: Any) -> None:
    with (speech_dir / "paragraph3.wav").open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-1",
            file=audio,
            chunking_strategy=chunking,
        )
    assert word_error_rate(PARAGRAPHS[3], result.text) <= 0.10
    assert result.usage is not None and result.usage.model_dump()["type"] == "duration"


def test_include_is_refused_clearly(client: openai.OpenAI, speech_dir: Path) -> None:
    with (speech_dir / "paragraph3.wav").open("rb") as audio, pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=audio, include=["logprobs"])
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "include"
    assert "logprobs" in body["message"]
