"""A language per segment: what hearing where each language is spoken costs, and what it gives,
against decoding the whole recording in one named language, with multilingual base on
faster-whisper (decoder.process.language_map and language_runs, as a task without a language
runs them)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.speech import GERMAN, PARAGRAPHS, SPANISH, concatenated, duration_s, speak, word_error_rate

from bench.languages import ENGINE, MODEL, load_base
from decoder.audio.ffmpeg import AudioFile
from decoder.process.language_map import map_languages
from decoder.process.language_runs import decode_runs, decoding
from decoder.wire.protocol import SubmitTask
from decoder.wire.transcript import Transcript

MIXED = "English, Spanish, German"
# Each recording: its parts, as (language, text, espeak-ng voice), one after another.
RECORDINGS = {
    MIXED: (("en", PARAGRAPHS[0], "en-us"), ("es", SPANISH, "es"), ("de", GERMAN, "de")),
    "English only": tuple(("en", text, "en-us") for text in PARAGRAPHS),
}


@dataclass(frozen=True)
class Mixed:
    name: str
    length_s: float
    heard: str
    runs: int
    hear_s: float
    by_runs_s: float
    # The recording decoded whole in the language of its first part, as a task naming it is.
    named: str
    named_s: float
    by_runs_wer: tuple[float, ...]
    named_wer: tuple[float, ...]


def _parts(work: Path, name: str) -> tuple[Path, list[tuple[str, float, float]]]:
    """The recording, and each part's text and its seconds [start, end) in it."""
    paths, spans, start = [], [], 0.0
    for index, (_, text, voice) in enumerate(RECORDINGS[name]):
        path = speak(text, work / f"{name[:2]}-{index}.wav", 140, voice)
        paths.append(path)
        length = duration_s(path)
        spans.append((text, start, start + length))
        start += length
    return concatenated(paths, work / f"{name.replace(', ', '-').replace(' ', '-')}.wav"), spans


def _wer(transcript: Transcript, spans: list[tuple[str, float, float]]) -> tuple[float, ...]:
    """Each part's word error rate, against the segments whose middle lies in it."""
    return tuple(
        round(
            word_error_rate(
                text,
                " ".join(s.text for s in transcript.segments if start <= (s.start + s.end) / 2 < end),
            ),
            3,
        )
        for text, start, end in spans
    )


def measure(work: Path, names: tuple[str, ...], threads: int) -> list[Mixed]:
    """The RECORDINGS of these names, each heard and decoded by runs, and decoded whole."""
    work.mkdir(parents=True, exist_ok=True)
    model = load_base(work, threads)
    measured = []
    for name in names:
        parts = RECORDINGS[name]
        path, spans = _parts(work, name)
        audio = AudioFile(str(path), None, 600)
        task = SubmitTask("bench", str(path), "transcribe", None)
        decode = decoding(model, task)
        started = time.perf_counter()
        heard = map_languages(audio, model.language_probabilities)
        mapped = time.perf_counter()
        by_runs = decode_runs(audio, heard, decode, lambda *_: None)
        decoded = time.perf_counter()
        named = decode(audio, parts[0][0], lambda *_: None)
        named_s = time.perf_counter() - decoded
        shares = ", ".join(f"{share.language} {share.share:.2f}" for share in heard.shares())
        measured.append(
            Mixed(
                name=name,
                length_s=heard.duration_s,
                heard=shares,
                runs=len(heard.runs),
                hear_s=mapped - started,
                by_runs_s=decoded - mapped,
                named=parts[0][0],
                named_s=named_s,
                by_runs_wer=_wer(by_runs, spans),
                named_wer=_wer(named, spans),
            )
        )
        print(f"{name}: {measured[-1]}", flush=True)
    return measured


def _rates(rates: tuple[float, ...]) -> str:
    return ", ".join(f"{rate:.2f}" for rate in rates) if len(rates) <= 3 else f"{max(rates):.2f} at most"


def section(measured: list[Mixed], threads: int) -> list[str]:
    rows = [
        f"| {m.name} | {m.length_s:.0f} s | {m.heard} ({m.runs} run{'s' if m.runs > 1 else ''}) "
        f"| {m.hear_s:.1f} | {m.by_runs_s:.1f} | {_rates(m.by_runs_wer)} "
        f"| {m.named} | {m.named_s:.1f} | {_rates(m.named_wer)} |"
        for m in measured
    ]
    return [
        "## A language per segment",
        "",
        f"Multilingual {MODEL} on {ENGINE} (int8, {threads} threads), on espeak-ng paragraphs one after "
        "another. A task without a language first *hears* where each language is spoken (one pass of the "
        "encoder for each 30 s of speech, and one for each sentence of the two chunks around a change), "
        "then decodes each run in its language; *named* decodes the whole recording in the language of its "
        "first part, as a task that names it does. WER is each part's, in order, against the segments "
        "whose middle lies in it.",
        "",
        "| recording | length | heard | hear s | decode s | WER by runs | named | decode s | WER named |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
