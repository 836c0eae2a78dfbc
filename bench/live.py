"""Live transcription: how soon a turn's text comes after its speech ends, with the decoder idle
and with a long file job decoding, and how the live text compares with the same audio decoded
as a file. espeak-ng paragraphs, sentence by sentence with pauses, streamed as 24 kHz PCM16 at
the pace of speech to /v1/realtime with the official openai client and server VAD."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.support.live_speech import (
    RATE,
    Heard,
    SpokenSentences,
    realtime_client,
    received,
    sentences_of,
    spoken_sentences,
    stream_at_pace,
)
from tests.support.server import start_server
from tests.support.speech import PARAGRAPHS, word_error_rate

from bench import service
from bench.report import percentile
from whisper_api.live.turns import ServerVad

TRANSCRIPTION = "conversation.item.input_audio_transcription"
# The silence server VAD waits for before it ends a turn (OpenAI's default, and ours), and a
# shorter one, as semantic_vad's high eagerness asks for: (silence ms, a file job decoding).
SILENCE_MS = ServerVad().silence_duration_ms
QUICK_SILENCE_MS = 250
RUNS = ((SILENCE_MS, False), (QUICK_SILENCE_MS, False), (SILENCE_MS, True))


@dataclass(frozen=True)
class LiveRun:
    engine: str
    silence_ms: int
    busy: bool
    # Per turn: seconds from the end of its speech, and from server VAD's speech_stopped, to
    # its completed event.
    after_speech_s: list[float]
    after_stop_s: list[float]
    live_wer: float
    file_wer: float
    turns: int
    sentences: int


async def _session(
    url: str, spoken: SpokenSentences, silence_ms: int
) -> tuple[list[float], list[float], str]:
    heard = Heard()

    def all_completed() -> bool:
        return len(heard.completed) >= len(heard.of("input_audio_buffer.committed"))

    async with realtime_client(url).realtime.connect(extra_query={"intent": "transcription"}) as connection:
        vad = {"type": "server_vad", "silence_duration_ms": silence_ms}
        session = {"type": "transcription", "audio": {"input": {"turn_detection": vad}}}
        await connection.send({"type": "session.update", "session": session})  # type: ignore[arg-type]
        streaming = asyncio.create_task(stream_at_pace(connection, spoken.pcm))

        async def listen() -> None:
            async for _ in received(connection, heard):
                if streaming.done() and all_completed():
                    return

        listening = asyncio.create_task(listen())
        began = await streaming
        if all_completed():
            listening.cancel()
        else:
            await listening
    stopped = {event["item_id"]: at for at, event in heard.times_of("input_audio_buffer.speech_stopped")}
    completed = heard.times_of(f"{TRANSCRIPTION}.completed")
    after_stop = [at - stopped[event["item_id"]] for at, event in completed if event["item_id"] in stopped]
    # Each sentence's end, matched to the first turn completed after it.
    after_speech = []
    for end_s in spoken.ends_s:
        spoken_at = began + end_s
        later = [at for at, _ in completed if at >= spoken_at]
        if later:
            after_speech.append(later[0] - spoken_at)
    text = " ".join(event["transcript"] for _, event in completed)
    return after_speech, after_stop, text


def _file_wer(server_url: str, spoken: SpokenSentences, work: Path, text: str) -> float:
    wav = work / "as-a-file.wav"
    subprocess.run(
        ["ffmpeg", "-y", "-v", "error", "-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", "-", str(wav)],
        input=spoken.pcm,
        check=True,
    )
    with httpx.Client(base_url=server_url, timeout=60) as client:
        task_id = service.upload(client, wav)
        result = service.wait_until_ended(client, task_id)
    return word_error_rate(text, str(result["transcript"]))


def measure(
    work: Path, model_dir: Path, long_audio: Path, engines: dict[str, dict[str, str]], sentences: int
) -> list[LiveRun]:
    work.mkdir(parents=True, exist_ok=True)
    spoken = spoken_sentences(" ".join(sentences_of(" ".join(PARAGRAPHS))[:sentences]), work)
    reference = " ".join(spoken.sentences)
    runs = []
    for engine, settings in engines.items():
        server = start_server(work / f"{engine}-server", model_dir, **settings)
        try:
            file_wer = _file_wer(server.url, spoken, work, reference)
            for silence_ms, busy in RUNS:
                with server.client() as client:
                    if busy:
                        # Twice, so that file work goes on for the whole session.
                        for _ in range(2):
                            service.upload(client, long_audio)
                        service.wait_until(lambda: service.decoder_busy(client), 600)
                    after_speech, after_stop, text = asyncio.run(_session(server.url, spoken, silence_ms))
                    if busy:
                        for task in client.get("/api/v1/tasks").json()["tasks"]:
                            client.delete(f"/api/v1/tasks/{task['task_id']}")
                runs.append(
                    LiveRun(
                        engine,
                        silence_ms,
                        busy,
                        after_speech,
                        after_stop,
                        word_error_rate(reference, text),
                        file_wer,
                        len(after_stop),
                        len(spoken.sentences),
                    )
                )
                print(f"live, {engine}, {silence_ms} ms, busy={busy}: {after_speech}", flush=True)
        finally:
            server.stop()
    return runs


def _ms(samples: list[float], fraction: float) -> str:
    return f"{percentile(samples, fraction) * 1000:.0f}" if samples else "none"


def section(runs: list[LiveRun]) -> list[str]:
    rows = [
        f"| {run.engine} | {run.silence_ms} | {'a file job decoding' if run.busy else 'idle'} | "
        f"{run.turns} of {run.sentences} | {_ms(run.after_speech_s, 0.5)} | {_ms(run.after_speech_s, 0.9)} | "
        f"{_ms(run.after_stop_s, 0.5)} | {_ms(run.after_stop_s, 0.9)} | {run.live_wer:.3f} | "
        f"{run.file_wer:.3f} |"
        for run in runs
    ]
    return [
        "## Live transcription",
        "",
        "espeak-ng sentences with 1.2 s pauses between them, streamed as 24 kHz PCM16 at the pace of "
        "speech to `/v1/realtime` by the openai client, with server VAD at its defaults; tiny.en. "
        "*After speech* is the time from the end of a sentence's speech to its `completed` event: it "
        "includes the *VAD silence* that server VAD waits for before it ends a turn "
        f"({SILENCE_MS} ms by default; {QUICK_SILENCE_MS} ms is `silence_duration_ms` a client may set, "
        "or semantic VAD's high eagerness). "
        "*After VAD* is the time from `speech_stopped` to `completed`: the decoding and the way back. "
        "*Busy* runs stream while the same server decodes a long file job. *Live WER* is the joined "
        "turns' word error rate; *file WER* is the same audio's as one uploaded file.",
        "",
        "| engine | VAD silence ms | decoder | turns | after speech p50 ms | p90 ms | after VAD p50 ms "
        "| p90 ms | live WER | file WER |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
