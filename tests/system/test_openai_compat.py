"""The official `openai` client, unchanged, against the real server, decoder and tiny.en: every
response format, streaming, and the fields it sends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support.server import RunningServer
from tests.support.speech import PARAGRAPHS, concatenated, duration_s, word_error_rate

pytestmark = pytest.mark.slow

TIMING_LINE = re.compile(r"^\d\d:\d\d:\d\d[,.]\d{3} --> \d\d:\d\d:\d\d[,.]\d{3}$")


@pytest.fixture(scope="module")
def server(engine_server: RunningServer) -> RunningServer:
    """Every test here runs against each engine."""
    return engine_server


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-checked", max_retries=0) as client:
        yield client


def subtitle_text(document: str) -> str:
    lines = document.splitlines()
    return " ".join(
        line
        for line in lines
        if line and line != "WEBVTT" and not line.isdigit() and not TIMING_LINE.match(line)
    )


@pytest.mark.parametrize("response_format", ["json", "text", "srt", "verbose_json", "vtt"])
def test_every_response_format(client: openai.OpenAI, speech_dir: Path, response_format: str) -> None:
    with (speech_dir / "paragraph0.wav").open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-1",
            file=audio,
            response_format=response_format,  # type: ignore[call-overload]
        )
    if response_format in ("json", "verbose_json"):
        text = result.text
    else:
        assert isinstance(result, str)
        text = subtitle_text(result) if response_format in ("srt", "vtt") else result
        if response_format != "text":
            assert any(TIMING_LINE.match(line) for line in result.splitlines())
    assert word_error_rate(PARAGRAPHS[0], text) <= 0.10, text
    if response_format == "verbose_json":
        assert result.language == "english"
        assert 10 < result.duration < 30
        assert result.segments and result.segments[0].start == 0.0


def test_word_timestamps(client: openai.OpenAI, speech_dir: Path) -> None:
    with (speech_dir / "paragraph1.wav").open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-1",
            file=audio,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert result.words and result.segments
    assert word_error_rate(PARAGRAPHS[1], " ".join(word.word for word in result.words)) <= 0.10
    starts = [word.start for word in result.words]
    assert starts == sorted(starts)
    assert all(word.start <= word.end for word in result.words)


# The openai package marks audio.translations deprecated (OpenAI's newer models do not
# translate); the endpoint is still OpenAI's, and the clients that call it are what this checks.
@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_translation_and_named_model(client: openai.OpenAI, speech_dir: Path) -> None:
    with (speech_dir / "paragraph2.wav").open("rb") as audio:
        translated = client.audio.translations.create(model="tiny.en", file=audio)
    assert word_error_rate(PARAGRAPHS[2], translated.text) <= 0.10


def test_unknown_model_is_an_openai_error(client: openai.OpenAI, speech_dir: Path) -> None:
    with (speech_dir / "paragraph0.wav").open("rb") as audio, pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-9000", file=audio)
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["param"] == "model" and body["type"] == "invalid_request_error"
    assert "whisper-9000" in body["message"]


def test_models_are_listed(client: openai.OpenAI) -> None:
    assert {model.id for model in client.models.list()} >= {"whisper-1", "tiny.en"}


@pytest.fixture(scope="module")
def three_paragraphs(speech_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About a minute of speech: several of Whisper's windows, so several deltas."""
    parts = [speech_dir / f"paragraph{i}.wav" for i in range(3)]
    return concatenated(parts, tmp_path_factory.mktemp("stream") / "three.wav")


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


@pytest.mark.parametrize("response_format", ["srt", "vtt"])
def test_subtitles_take_the_style_as_extra_form_fields(
    client: openai.OpenAI, speech_dir: Path, response_format: str
) -> None:
    with (speech_dir / "paragraph0.wav").open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-1",
            file=audio,
            response_format=response_format,  # type: ignore[call-overload]
            extra_body={"style": "netflix", "max_line_width": 30, "max_line_count": 1},
        )
    assert isinstance(result, str)
    # Each cue's text: the lines after its timing line.
    texts = []
    for block in result.split("\n\n"):
        lines = block.splitlines()
        timing = next((i for i, line in enumerate(lines) if TIMING_LINE.match(line)), None)
        if timing is not None:
            texts.append(lines[timing + 1 :])
    assert texts and all(len(lines) == 1 and len(lines[0]) <= 30 for lines in texts), result
    assert word_error_rate(PARAGRAPHS[0], subtitle_text(result)) <= 0.10
