"""A recording decoded run by run, each run of one language in its own language (the runs of a
decoder.process.language_map.LanguageMap), and the runs' segments put together in time order.

Each run is a part of the file (AudioFile.start_s, end_s) that the engine decodes as it would a
recording of its own, whole or windowed, so memory stays what one decoding needs. A translate
task translates every run to English. Progress is the runs' together, on the recording's clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from decoder.audio.ffmpeg import AudioFile
from decoder.engines.base import LoadedModel, ProgressCallback
from decoder.process.language_map import LanguageMap, LanguageRun
from decoder.wire.protocol import SubmitTask
from decoder.wire.transcript import LanguageShare, Segment, Transcript

# Decodes (a part of) a recording in one language.
DecodeIn = Callable[[AudioFile, str, ProgressCallback], Transcript]


def decoding(model: LoadedModel, task: SubmitTask) -> DecodeIn:
    """The task's decoding by a multilingual model, in whichever language it is told."""

    def decode(part: AudioFile, language: str, progress: ProgressCallback) -> Transcript:
        told = replace(task, language=language)
        return model.transcribe(part, told, english_only=False, on_progress=progress)

    return decode


def decode_runs(
    audio: AudioFile, heard: LanguageMap, decode: DecodeIn, on_progress: ProgressCallback
) -> Transcript:
    """The recording decoded in the languages `heard` found; `language` is the largest share's."""
    shares = heard.shares()
    if len(heard.runs) == 1:
        (run,) = heard.runs
        whole = decode(audio, run.language, _reported(run, heard.duration_s, on_progress))
        return replace(in_one_language(whole), languages=shares)
    segments: list[Segment] = []
    texts: list[str] = []
    for run in heard.runs:
        part = replace(audio, start_s=run.start_s, end_s=run.end_s)
        transcript = decode(part, run.language, _reported(run, heard.duration_s, on_progress))
        segments += _placed(transcript.segments, run)
        # Each run's text as its engine wrote it (without spaces between segments in Chinese or
        # Japanese), and a space between runs.
        texts.append(transcript.text.strip())
    return Transcript(
        text=" ".join(text for text in texts if text),
        language=shares[0].language,
        duration_s=round(heard.duration_s, 3),
        segments=tuple(segments),
        languages=shares,
    )


def in_one_language(transcript: Transcript) -> Transcript:
    """A transcript decoded in one language, every segment of it said to be in that language."""
    segments = tuple(replace(segment, language=transcript.language) for segment in transcript.segments)
    languages = (LanguageShare(transcript.language, 1.0),) if segments else ()
    return replace(transcript, segments=segments, languages=languages)


def in_language(language: str, on_progress: ProgressCallback) -> ProgressCallback:
    """Progress whose segments are said to be in `language`."""

    def progress(decoded: float, total: float, segments: tuple[Segment, ...]) -> None:
        on_progress(decoded, total, tuple(replace(segment, language=language) for segment in segments))

    return progress


def _reported(run: LanguageRun, total_s: float, on_progress: ProgressCallback) -> ProgressCallback:
    """A run's reports as parts of the whole: its seconds after the runs before it."""

    def progress(decoded: float, _run_total: float, segments: tuple[Segment, ...]) -> None:
        on_progress(min(run.start_s + decoded, total_s), total_s, _placed(segments, run))

    return progress


def _placed(segments: tuple[Segment, ...], run: LanguageRun) -> tuple[Segment, ...]:
    """A run's segments on the recording's clock, in the run's language, and within the run
    (a last timestamp can overshoot the audio it was given)."""

    def moved(seconds: float) -> float:
        return round(min(seconds + run.start_s, run.end_s or math.inf), 3)

    return tuple(
        replace(
            segment,
            start=moved(segment.start),
            end=moved(segment.end),
            words=tuple(
                replace(word, start=moved(word.start), end=moved(word.end)) for word in segment.words
            ),
            language=run.language,
        )
        for segment in segments
    )
