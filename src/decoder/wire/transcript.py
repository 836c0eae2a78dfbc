"""What decoding a file gives, as the decoder returns it in TaskFinished and TaskProgress, and
as the front end stores and renders it: frozen records of primitives, so they pickle cheaply
over the pipe. This module imports nothing heavy: the front end loads it without torch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a segment, with its times in seconds (asked for with word timestamps)."""

    start: float
    end: float
    word: str
    probability: float
    # Who said it, where the task asked for speakers (SPEAKER_00, ... or a known speaker's name).
    speaker: str | None = None


@dataclass(frozen=True, slots=True)
class SegmentStats:
    """What the decoder knows of a segment beyond its text, as OpenAI's verbose_json reports it."""

    seek: int
    tokens: tuple[int, ...]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of the transcript, with its times in seconds."""

    start: float
    end: float
    text: str
    # Empty unless word timestamps were asked for.
    words: tuple[Word, ...] = ()
    # None where the decoder did not report them (and for a segment split where speakers change).
    stats: SegmentStats | None = None
    # Who said it, where the task asked for speakers.
    speaker: str | None = None
    # The channel it was heard on, where the task split the channels (channels=split).
    channel: int | None = None
    # The language it was spoken in (a translation's segment: the language translated from).
    language: str | None = None


@dataclass(frozen=True, slots=True)
class LanguageShare:
    """A language heard in a recording, and its share (0-1) of the recording's speech."""

    language: str
    share: float


def language_shares(seconds: Mapping[str, float]) -> tuple[LanguageShare, ...]:
    """Each language's share of the seconds spoken in them, the largest first (evenly, where
    none were)."""
    total = sum(seconds.values())
    return tuple(
        LanguageShare(language, round(spoken / total if total else 1 / len(seconds), 4))
        for language, spoken in sorted(seconds.items(), key=lambda pair: pair[1], reverse=True)
    )


@dataclass(frozen=True, slots=True)
class Transcript:
    """What decoding a file gives: the decoder returns it, the front end stores and renders it.

    A field added to these records (with a default) reaches the store and the renderers
    without further changes: the store writes them by their field names."""

    text: str
    # Language code as whisper reports it, e.g. "en".
    language: str
    duration_s: float
    segments: tuple[Segment, ...]
    # The speakers' labels in the order they first speak; empty unless the task asked for them.
    speakers: tuple[str, ...] = ()
    # Every language heard, the largest share first (`language` is the first of them); empty
    # where nothing was said.
    languages: tuple[LanguageShare, ...] = ()

    def with_speakers(self, names: Mapping[str, str]) -> Transcript:
        """The transcript with every speaker called names[speaker], on segments and words."""

        def new(label: str | None) -> str | None:
            return None if label is None else names[label]

        segments = tuple(
            replace(
                segment,
                speaker=new(segment.speaker),
                words=tuple(replace(word, speaker=new(word.speaker)) for word in segment.words),
            )
            for segment in self.segments
        )
        return replace(self, segments=segments, speakers=tuple(names[label] for label in self.speakers))


@dataclass(frozen=True, slots=True)
class DecodeRun:
    """How a transcript was made: by which model, on which device, when."""

    target_model_size: str
    used_model_size: str
    used_device: str
    started_at: float
    finished_at: float
