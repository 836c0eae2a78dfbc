"""Language detection: Whisper's own method (the first 30 s) against the decoder's windows of
speech spread over the file (decoder.process.detection), on Spanish and German speech with and without
an opening of silence, a tone or noise, with multilingual base on faster-whisper."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.speech import GERMAN, SPANISH, concatenated, speak

from decoder.audio.ffmpeg import AudioFile, load_audio
from decoder.engines import EngineOptions, LoadedModel, create_engine
from decoder.model_import import import_model
from decoder.model_import.packaged import PACKAGED_MODELS
from decoder.process.detection import WINDOW_S, LanguageModel, detect_in_file

MODEL = "base"
ENGINE = "faster-whisper"
OPENING_S = 40
# Each opening as ffmpeg's lavfi source (22.05 kHz mono, as espeak-ng writes).
OPENINGS = {
    "none": None,
    "silence": "anullsrc=r=22050:cl=mono",
    "tone": "sine=frequency=440:sample_rate=22050",
    "noise": "anoisesrc=color=pink:amplitude=0.05:sample_rate=22050",
}
SPEECH = {"es": (SPANISH, "es"), "de": (GERMAN, "de")}


@dataclass(frozen=True)
class Heard:
    language: str
    probability: float
    seconds: float


@dataclass(frozen=True)
class Trial:
    expected: str
    opening: str
    first_30_s: Heard
    windows: Heard


def _recordings(directory: Path) -> list[tuple[str, str, Path]]:
    directory.mkdir(parents=True, exist_ok=True)
    made = []
    for language, (text, voice) in SPEECH.items():
        speech = speak(text, directory / f"{language}.wav", 140, voice)
        for opening, source in OPENINGS.items():
            if source is None:
                made.append((language, opening, speech))
                continue
            lead = directory / f"{opening}.wav"
            command = ["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", source, "-t", str(OPENING_S)]
            subprocess.run([*command, "-ac", "1", "-c:a", "pcm_s16le", str(lead)], check=True)
            made.append(
                (language, opening, concatenated([lead, speech], directory / f"{language}-{opening}.wav"))
            )
    return made


def _first_30_s(path: Path, model: LanguageModel) -> Heard:
    started = time.perf_counter()
    probabilities = model(load_audio(str(path), None, 300, limit_s=WINDOW_S))
    language = max(probabilities, key=lambda code: probabilities[code])
    return Heard(language, probabilities[language], time.perf_counter() - started)


def _windows(path: Path, model: LanguageModel) -> Heard:
    started = time.perf_counter()
    detection = detect_in_file(AudioFile(str(path), None, 300), model)
    return Heard(detection.language, detection.probability, time.perf_counter() - started)


def load_base(work: Path, threads: int) -> LoadedModel:
    """Multilingual base on ENGINE, from its package, on the CPU."""
    models = work / "models"
    packaged = next(model for model in PACKAGED_MODELS if model.name == MODEL)
    with packaged.source() as source:
        import_model(source, MODEL, models)
    engine = create_engine(ENGINE, models, EngineOptions(compute_type="int8", cpu_threads=threads))
    return engine.load(MODEL, "cpu")


def measure(work: Path, threads: int) -> list[Trial]:
    model = load_base(work, threads).language_probabilities
    return [
        Trial(expected, opening, _first_30_s(path, model), _windows(path, model))
        for expected, opening, path in _recordings(work / "speech")
    ]


def _cell(heard: Heard, expected: str) -> str:
    mark = "right" if heard.language == expected else "**wrong**"
    return f"{heard.language} {heard.probability:.2f} ({mark}) | {heard.seconds:.1f}"


def section(trials: list[Trial], threads: int) -> list[str]:
    def right(pick: str) -> int:
        return sum(getattr(trial, pick).language == trial.expected for trial in trials)

    rows = [
        f"| {t.expected} | {t.opening} | {_cell(t.first_30_s, t.expected)} | {_cell(t.windows, t.expected)} |"
        for t in trials
    ]
    return [
        "## Language detection",
        "",
        f"Multilingual {MODEL} on {ENGINE} (int8, {threads} threads), on an espeak-ng paragraph of Spanish "
        f"and one of German, each alone and after {OPENING_S} s of silence, a 440 Hz tone or pink noise. "
        "*First 30 s* is Whisper's own method; *windows* is how `/api/v1/detect-language` hears it "
        "(speech found by Silero VAD, up to four 30 s windows spread over the file; a task without a "
        "language is heard chunk by chunk instead: docs/api.md, Languages). Each cell: the language "
        "answered, its probability, and the seconds it took.",
        "",
        f"Right of {len(trials)}: first 30 s {right('first_30_s')}, windows {right('windows')}.",
        "",
        "| speech | opening | first 30 s | s | windows | s |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]
