"""Home Assistant's Wyoming protocol, end to end: the `wyoming` package's own client against
the real server, decoder and model."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info

from tests.support.live_speech import pcm_of
from tests.support.ports import free_port
from tests.support.server import RunningServer, start_server
from tests.support.speech import PARAGRAPHS, speak, word_error_rate

pytestmark = pytest.mark.slow

RATE = 16000
CHUNK = 2 * RATE // 10


@pytest.fixture(scope="module")
def wyoming_server(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path
) -> Iterator[tuple[RunningServer, int]]:
    port = free_port()
    running = start_server(tmp_path_factory.mktemp("wyoming"), model_dir, WYOMING_PORT=str(port))
    yield running, port
    running.stop()


async def _next(client: AsyncTcpClient, timeout_s: float = 120) -> Event:
    event = await asyncio.wait_for(client.read_event(), timeout_s)
    assert event is not None, "the server closed the connection"
    return event


async def _conversation(port: int, pcm: bytes) -> tuple[Info, Transcript, Event, Transcript]:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        info = Info.from_event(await _next(client))
        # One utterance, sent as Home Assistant sends it.
        await client.write_event(Transcribe(language="en-US").event())
        await client.write_event(AudioStart(rate=RATE, width=2, channels=1).event())
        for offset in range(0, len(pcm), CHUNK):
            chunk = AudioChunk(rate=RATE, width=2, channels=1, audio=pcm[offset : offset + CHUNK])
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        transcript = Transcript.from_event(await _next(client))
        # Audio it cannot take is refused, and the connection goes on.
        await client.write_event(AudioStart(rate=RATE, width=4, channels=2).event())
        refused = await _next(client)
        await client.write_event(AudioStart(rate=RATE, width=2, channels=1).event())
        await client.write_event(AudioStop().event())
        silence = Transcript.from_event(await _next(client))
    return info, transcript, refused, silence


def test_home_assistant_s_client_gets_the_transcript(
    wyoming_server: tuple[RunningServer, int], tmp_path: Path
) -> None:
    _, port = wyoming_server
    pcm = pcm_of(speak(PARAGRAPHS[3], tmp_path / "speech.wav"), RATE)
    info, transcript, refused, silence = asyncio.run(_conversation(port, pcm))
    (program,) = info.asr
    assert program.name == "whisper-api" and program.installed
    assert [model.name for model in program.models] == ["tiny.en"]
    assert program.models[0].languages == ["en"]
    assert word_error_rate(PARAGRAPHS[3], transcript.text) <= 0.10, transcript.text
    assert transcript.language == "en"
    assert Error.is_type(refused.type) and Error.from_event(refused).code == "unsupported_audio"
    assert silence.text == ""
