"""Speaker diarization: its cost in seconds per audio minute, beside the transcription it follows,
and how well it does, on espeak-ng dialogues of two voices (tests.support.speech.dialogue) of growing
length, with tiny.en on faster-whisper in one process (the decoder's own classes)."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.support.speech import VOICES, Turn, dialogue

from decoder.audio.ffmpeg import AudioFile
from decoder.engines import EngineOptions, create_engine
from decoder.speakers.diarize import diarize
from decoder.speakers.encoders import load_encoder
from decoder.wire.options import DecodeOptions, Diarization
from decoder.wire.protocol import SubmitTask
from decoder.wire.speaker_files import DEFAULT_SPEAKER_ENCODER

MODEL = "tiny.en"
ENGINE = "faster-whisper"


@dataclass(frozen=True)
class Run:
    turns: int
    audio_s: float
    transcribe_s: float
    diarize_s: float
    speakers: int
    words_right: float
    # The largest distance of a speaker change from its true turn boundary; None: a change missing.
    worst_boundary_s: float | None


def _voice_at(turns: list[Turn], moment: float) -> str | None:
    return next((turn.voice for turn in turns if turn.start - 0.2 <= moment <= turn.end + 0.2), None)


def _score(
    segments: list[tuple[float, str, list[tuple[float, str]]]], turns: list[Turn]
) -> tuple[float, float | None]:
    placed = [(label, _voice_at(turns, moment)) for _, _, words in segments for moment, label in words]
    counts = Counter(placed)
    mapping = {label: max(VOICES, key=lambda voice: counts[(label, voice)]) for label, _ in counts}
    right = sum(mapping[label] == voice for label, voice in placed) / max(1, len(placed))
    changes = [after[0] for before, after in itertools.pairwise(segments) if before[1] != after[1]]
    boundaries = [turn.start for turn in turns[1:]]
    if len(changes) != len(boundaries):
        return right, None
    return right, max(abs(change - boundary) for change, boundary in zip(changes, boundaries, strict=True))


def measure(work: Path, model_dir: Path, turn_counts: tuple[int, ...], threads: int) -> list[Run]:
    engine = create_engine(ENGINE, model_dir, EngineOptions(compute_type="int8", cpu_threads=threads))
    model = engine.load(MODEL, "cpu")
    encoder = load_encoder(model_dir, DEFAULT_SPEAKER_ENCODER, threads)
    runs = []
    for count in turn_counts:
        path, turns = dialogue(_fresh(work / f"dialogue-{count}"), count)
        audio = AudioFile(str(path), None, 600)
        task = SubmitTask("bench", str(path), "transcribe", "en", DecodeOptions(word_timestamps=True))
        started = time.perf_counter()
        transcript = model.transcribe(audio, task, english_only=True, on_progress=lambda *_: None)
        transcribed = time.perf_counter()
        labelled = diarize(audio, transcript, Diarization(), encoder, lambda *_: None, 600)
        finished = time.perf_counter()
        segments = [
            (
                segment.start,
                segment.speaker or "",
                [((word.start + word.end) / 2, word.speaker or "") for word in segment.words],
            )
            for segment in labelled.segments
        ]
        right, worst = _score(segments, turns)
        runs.append(
            Run(
                count,
                transcript.duration_s,
                transcribed - started,
                finished - transcribed,
                len(labelled.speakers),
                right,
                worst,
            )
        )
    return runs


def _fresh(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def section(runs: list[Run], threads: int) -> list[str]:
    rows = [
        f"| {run.turns} | {run.audio_s / 60:.1f} | {run.transcribe_s:.1f} | {run.diarize_s:.2f} | "
        f"{run.diarize_s / (run.audio_s / 60):.2f} | {run.speakers} | {run.words_right:.0%} | "
        f"{'a change missing' if run.worst_boundary_s is None else f'{run.worst_boundary_s:.2f}'} |"
        for run in runs
    ]
    return [
        "## Speaker diarization",
        "",
        f"Dialogues of two espeak-ng voices (`{VOICES[0]}` and `{VOICES[1]}`) taking turns of two sentences, "
        f"transcribed with word timestamps by {MODEL} on {ENGINE} (int8, {threads} threads), then "
        "diarized (`decoder.speakers`: resemblyzer's encoder on 1 s windows, on the CPU, and clustering). "
        "*Per audio minute* is the diarization alone; *words right* counts words whose speaker is the "
        "one who said them; *worst change* is the largest distance, in seconds, of a speaker change "
        "from the true turn boundary.",
        "",
        "| turns | audio min | transcribe s | diarize s | diarize s per audio min | speakers | words right "
        "| worst change s |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
