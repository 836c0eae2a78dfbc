"""Home Assistant's Wyoming protocol (speech to text) on WYOMING_PORT, spoken by the `wyoming`
package: Home Assistant's Wyoming integration uses the server as its speech-to-text service.

    describe                                -> info (one ASR program: the decoders' model)
    transcribe {language}                   -> the next utterance's language
    audio-start, audio-chunk ..., audio-stop -> transcript {text, language}

An utterance is a live session with manual commits (Home Assistant finds its end with its own
VAD): its audio goes to the decoders as live turns, ahead of file jobs, never to the disk. One
longer than LIVE_MAX_TURN_S is decoded in turns of that length and its text joined. A request
that cannot be served gets an `error` event {text, code}, and the connection stays open. The
protocol has no keys: it listens on the LISTEN address only, like Home Assistant's own add-ons.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from importlib.metadata import version

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import AsrModel, AsrProgram, Attribution, Describe, Info
from wyoming.server import AsyncEventHandler, AsyncTcpServer

from decoder.protocol import DecoderReady
from whisper_api.jobs.errors import JobError
from whisper_api.jobs.options import check_language
from whisper_api.live.events import LiveEvent, TurnCompleted, TurnNotDecoded
from whisper_api.live.formats import AudioFormat
from whisper_api.live.session import EmptyCommit, LiveSession, SessionConfig
from whisper_api.live.sessions import LiveSessions

log = logging.getLogger(__name__)

PROGRAM = "whisper-api"
ATTRIBUTION = Attribution(
    name="OpenAI Whisper, served by whisper-api", url="https://github.com/openai/whisper"
)
# Wyoming audio this server takes: 16-bit samples, one channel, at any rate.
SAMPLE_WIDTH = 2
CHANNELS = 1


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


class _Utterance:
    """The session of one audio-start ... audio-stop, and the texts of its turns."""

    def __init__(self) -> None:
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


class WyomingHandler(AsyncEventHandler):
    def __init__(
        self,
        live: LiveSessions,
        ready: Callable[[], DecoderReady | None],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        super().__init__(reader, writer)
        self._live = live
        self._ready = ready
        self._language: str | None = None
        self._utterance: _Utterance | None = None

    async def handle_event(self, event: Event) -> bool:
        try:
            await self._handle(event)
        except JobError as exc:
            await self._end_utterance()
            await self.write_event(Error(text=exc.message, code=exc.code).event())
        return True

    async def _handle(self, event: Event) -> None:
        if Describe.is_type(event.type):
            await self.write_event(describe(self._ready()).event())
        elif Transcribe.is_type(event.type):
            self._language = self._checked(Transcribe.from_event(event).language)
        elif AudioStart.is_type(event.type):
            await self._start(AudioStart.from_event(event))
        elif AudioChunk.is_type(event.type) and self._utterance is not None:
            assert self._utterance.session is not None
            await self._utterance.session.append(AudioChunk.from_event(event).audio)
        elif AudioStop.is_type(event.type) and self._utterance is not None:
            await self._finish(self._utterance)

    def _checked(self, language: str | None) -> str | None:
        """A language code the model takes; Home Assistant may send a region too (`en-US`)."""
        ready = self._ready()
        if language is None or ready is None:
            return None
        return check_language(language.split("-")[0].split("_")[0], ready)

    async def _start(self, start: AudioStart) -> None:
        await self._end_utterance()
        if start.width != SAMPLE_WIDTH or start.channels != CHANNELS:
            await self.write_event(
                Error(text="send 16-bit mono audio (width 2, channels 1)", code="unsupported_audio").event()
            )
            return
        utterance = _Utterance()
        config = SessionConfig(AudioFormat("pcm16", start.rate), language=self._language, vad=None)
        utterance.session = await utterance.exit.enter_async_context(
            self._live.session(utterance.heard, config)
        )
        self._utterance = utterance

    async def _finish(self, utterance: _Utterance) -> None:
        assert utterance.session is not None
        with contextlib.suppress(EmptyCommit):
            await utterance.session.commit()
        await utterance.session.drain()
        await self._end_utterance()
        self._language = None
        if utterance.failure is not None:
            await self.write_event(Error(text=utterance.failure, code="transcription_failed").event())
            return
        text = " ".join(text for text in utterance.texts if text)
        await self.write_event(Transcript(text=text, language=utterance.language).event())

    async def _end_utterance(self) -> None:
        utterance, self._utterance = self._utterance, None
        if utterance is not None:
            await utterance.exit.aclose()

    async def disconnect(self) -> None:
        await self._end_utterance()


class WyomingService:
    """The Wyoming server of the running app, started and stopped by its lifespan."""

    def __init__(self, live: LiveSessions, ready: Callable[[], DecoderReady | None]) -> None:
        self._live = live
        self._ready = ready
        self._server: AsyncTcpServer | None = None

    async def start(self, host: str, port: int) -> None:
        # start(), not run(): run() would take the process's SIGTERM from hypercorn.
        self._server = AsyncTcpServer(host, port)
        await self._server.start(functools.partial(WyomingHandler, self._live, self._ready))
        log.info("Wyoming speech to text on %s:%d", host, port)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None
