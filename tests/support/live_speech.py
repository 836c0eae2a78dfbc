"""Live test speech: a paragraph spoken sentence by sentence with pauses between, as the raw
PCM16 a realtime client streams, and a client that streams it at the pace of speech."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from tests.support.speech import speak

RATE = 24000
BYTES_PER_S = RATE * 2
PAUSE_S = 1.2
CHUNK_S = 0.1
# A sample louder than this (of 32767) is speech, not the silence around it.
SPEECH_LEVEL = 328


@dataclass(frozen=True)
class SpokenSentences:
    sentences: list[str]
    # PCM16, mono, 24 kHz: each sentence followed by PAUSE_S of silence.
    pcm: bytes
    # Where each sentence's speech ends in `pcm`, in seconds.
    ends_s: list[float]


def pcm_of(wav: Path, rate: int = RATE) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(wav), "-ar", str(rate), "-ac", "1", "-f", "s16le", "-"],
        check=True,
        capture_output=True,
    ).stdout


def _speech_end(pcm: bytes) -> int:
    """Where the speech in PCM16 bytes ends: after its last sample above 1 % of full scale."""
    samples = memoryview(pcm).cast("h")
    last = next((i for i in range(len(samples) - 1, -1, -1) if abs(samples[i]) > SPEECH_LEVEL), 0)
    return (last + 1) * 2


def sentences_of(text: str) -> list[str]:
    return [sentence.strip() + "." for sentence in text.split(".") if sentence.strip()]


def spoken_sentences(text: str, directory: Path) -> SpokenSentences:
    sentences = sentences_of(text)
    pcm = bytearray(bytes(int(0.5 * BYTES_PER_S)))
    ends = []
    for index, sentence in enumerate(sentences):
        spoken = pcm_of(speak(sentence, directory / f"sentence{index}.wav"))
        pcm += spoken
        # espeak-ng ends a clip with some silence: the speech ends at its last loud sample.
        ends.append((len(pcm) - len(spoken) + _speech_end(spoken)) / BYTES_PER_S)
        pcm += bytes(int(PAUSE_S * BYTES_PER_S))
    return SpokenSentences(sentences, bytes(pcm), ends)


def realtime_client(url: str, api_key: str = "unused") -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{url}/v1", api_key=api_key)


@dataclass
class Heard:
    """The server's events of one session, each with the time it came."""

    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for _, event in self.events if event["type"] == kind]

    def times_of(self, kind: str) -> list[tuple[float, dict[str, Any]]]:
        return [(at, event) for at, event in self.events if event["type"] == kind]

    @property
    def completed(self) -> list[dict[str, Any]]:
        return self.of("conversation.item.input_audio_transcription.completed")


async def received(connection: Any, heard: Heard) -> AsyncIterator[dict[str, Any]]:
    async for event in connection:
        data = event.model_dump() if hasattr(event, "model_dump") else dict(event)
        heard.events.append((time.monotonic(), data))
        yield data


async def stream_at_pace(connection: Any, pcm: bytes) -> float:
    """Send the audio in CHUNK_S pieces as fast as it would be spoken; returns when it began."""
    began = time.monotonic()
    step = int(CHUNK_S * BYTES_PER_S)
    for offset in range(0, len(pcm), step):
        piece = base64.b64encode(pcm[offset : offset + step]).decode()
        await connection.send({"type": "input_audio_buffer.append", "audio": piece})
        ahead = began + (offset + step) / BYTES_PER_S - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)  # the pace of speech, not synchronisation
    return began
