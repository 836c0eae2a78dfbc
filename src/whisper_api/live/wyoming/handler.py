"""One Wyoming connection's events, answered:

    describe                                -> info (one ASR program: the decoders' model)
    transcribe {language}                   -> the next utterance's language
    audio-start, audio-chunk ..., audio-stop -> transcript {text, language}

An utterance is a live session with manual commits (Home Assistant finds its end with its own
VAD): its audio goes to the decoders as live turns, ahead of file jobs, never to the disk. One
longer than LIVE_MAX_TURN_S is decoded in turns of that length and its text joined. An event
that cannot be served raises a JobError, which the connection answers with an `error` event.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from importlib.metadata import version
from typing import Any

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import AsrModel, AsrProgram, Attribution, Describe, Info

from decoder.wire.protocol import DecoderReady
from whisper_api.jobs.errors import JobError, Refused
from whisper_api.jobs.intake.options import check_language
from whisper_api.live.events import LiveEvent, TurnCompleted, TurnNotDecoded
from whisper_api.live.formats import MAX_RATE, MIN_RATE, AudioFormat
from whisper_api.live.session import EmptyCommit, LiveSession, SessionConfig
from whisper_api.live.sessions import LiveSessions

PROGRAM = "whisper-api"
ATTRIBUTION = Attribution(
    name="OpenAI Whisper, served by whisper-api", url="https://github.com/openai/whisper"
)
# Wyoming audio this server takes: 16-bit samples, one channel, at MIN_RATE to MAX_RATE.
SAMPLE_WIDTH = 2
CHANNELS = 1


class UnsupportedAudio(Refused):
    code = "unsupported_audio"


class BadEvent(Refused):
    code = "invalid_event"


def describe(ready: DecoderReady | None) -> Info:
    """One ASR program with the decoders' model and its languages (none before a decoder is up)."""
    models = []
    if ready is not None:
        languages = ["en"] if ready.english_only else [code for code, _ in ready.languages]
        models.append(
            AsrModel(
                name=ready.max_model_to_use,
                attribution=ATTRIBUTION,
                installed=True,
                description=f"Whisper {ready.max_model_to_use} on {ready.engine}",
                version=None,
                languages=languages,
            )
        )
    program = AsrProgram(
        name=PROGRAM,
        attribution=ATTRIBUTION,
        installed=True,
        description="Self-hosted Whisper speech to text",
        version=version("whisper-api"),
        models=models,
    )
    return Info(asr=[program])


def audio_format(data: Mapping[str, Any]) -> AudioFormat:
    """The format an audio-start or audio-chunk declares, if this server takes it."""
    rate, width, channels = data.get("rate"), data.get("width"), data.get("channels")
    if width != SAMPLE_WIDTH or channels != CHANNELS:
        raise UnsupportedAudio("send 16-bit mono audio (width 2, channels 1)")
    if not isinstance(rate, int) or isinstance(rate, bool) or not MIN_RATE <= rate <= MAX_RATE:
        raise UnsupportedAudio(f"send audio at a rate from {MIN_RATE} to {MAX_RATE} Hz")
    return AudioFormat("pcm16", rate)


class _Utterance:
    """The session of one audio-start ... audio-stop, and the texts of its turns."""

    def __init__(self, audio: AudioFormat) -> None:
        self.audio = audio
        self.texts: list[str] = []
        self.language: str | None = None
        self.failure: str | None = None
        self.exit = contextlib.AsyncExitStack()
        self.session: LiveSession | None = None

    async def heard(self, event: LiveEvent) -> None:
        if isinstance(event, TurnCompleted):
            self.texts.append(event.text.strip())
            self.language = event.language
        elif isinstance(event, TurnNotDecoded):
            self.failure = event.reason


class WyomingHandler:
    def __init__(
        self,
        live: LiveSessions,
        ready: Callable[[], DecoderReady | None],
        send: Callable[[Event], Awaitable[None]],
    ) -> None:
        self._live = live
        self._ready = ready
        self._send = send
        self._language: str | None = None
        self._utterance: _Utterance | None = None

    async def handle(self, event: Event) -> None:
        """Answer one event; a JobError ends the utterance in hand and says why."""
        try:
            await self._handle(event)
        except JobError:
            await self.close()
            raise

    async def _handle(self, event: Event) -> None:
        if Describe.is_type(event.type):
            await self._send(describe(self._ready()).event())
        elif Transcribe.is_type(event.type):
            self._language = self._checked(event.data.get("language"))
        elif AudioStart.is_type(event.type):
            await self._start(audio_format(event.data))
        elif AudioChunk.is_type(event.type) and self._utterance is not None:
            await self._append(self._utterance, event)
        elif AudioStop.is_type(event.type) and self._utterance is not None:
            await self._finish(self._utterance)

    def _checked(self, language: object) -> str | None:
        """A language code the model takes; Home Assistant may send a region too (`en-US`)."""
        if language is not None and not isinstance(language, str):
            raise BadEvent("transcribe's language is a string, such as 'en' or 'en-US'")
        ready = self._ready()
        if language is None or ready is None:
            return None
        return check_language(language.split("-")[0].split("_")[0], ready)

    async def _start(self, audio: AudioFormat) -> None:
        await self.close()
        utterance = _Utterance(audio)
        config = SessionConfig(audio, language=self._language, vad=None)
        session = self._live.session(utterance.heard, config)
        utterance.session = await utterance.exit.enter_async_context(session)
        self._utterance = utterance

    async def _append(self, utterance: _Utterance, chunk: Event) -> None:
        declared = {"rate": utterance.audio.rate, "width": SAMPLE_WIDTH, "channels": CHANNELS, **chunk.data}
        if audio_format(declared) != utterance.audio:
            raise UnsupportedAudio("an audio-chunk's rate, width and channels must be its audio-start's")
        assert utterance.session is not None
        await utterance.session.append(chunk.payload or b"")

    async def _finish(self, utterance: _Utterance) -> None:
        assert utterance.session is not None
        with contextlib.suppress(EmptyCommit):
            await utterance.session.commit()
        await utterance.session.drain()
        await self.close()
        self._language = None
        if utterance.failure is not None:
            await self._send(Error(text=utterance.failure, code="transcription_failed").event())
            return
        text = " ".join(text for text in utterance.texts if text)
        await self._send(Transcript(text=text, language=utterance.language).event())

    async def close(self) -> None:
        """End the utterance in hand, if any: its turns still decoding are dropped."""
        utterance, self._utterance = self._utterance, None
        if utterance is not None:
            await utterance.exit.aclose()
