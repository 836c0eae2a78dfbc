"""channels=split: each channel of a recording decoded on its own, as one party's speech (a call
kept with a channel per speaker), and the channels' segments merged in time order, overlaps kept,
each labelled with its channel and its channel's name.

A channel is read on its own pass through the file (decoder.audio.ffmpeg picks it), so memory
stays what one mono decoding needs, and time grows with the channels; a silent channel ends at
the engine's silence gate, after one read of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from decoder.audio.ffmpeg import AudioFile, channel_count
from decoder.engines.base import ProgressCallback
from decoder.errors import AudioError
from decoder.wire.options import MAX_SPLIT_CHANNELS, MIN_SPLIT_CHANNELS
from decoder.wire.transcript import Segment, Transcript, language_shares

# (covered seconds, total seconds) of a stage after decoding, as diarization reports it.
StageCallback = Callable[[float, float], None]
# Hears one channel: its audio, and where its decoding and its diarization report.
HearChannel = Callable[[AudioFile, ProgressCallback, StageCallback], Transcript]


def channel_label(names: Sequence[str], channel: int) -> str:
    """What a channel's segments are labelled with: its name, or "channel N"."""
    return names[channel] if channel < len(names) else f"channel {channel}"


def decode_channels(
    audio: AudioFile,
    names: Sequence[str],
    hear: HearChannel,
    on_progress: ProgressCallback,
    on_stage: StageCallback,
) -> Transcript:
    """Every channel of `audio` heard by `hear`, merged; progress is the channels' together."""
    count = channel_count(audio)
    if not MIN_SPLIT_CHANNELS <= count <= MAX_SPLIT_CHANNELS:
        raise AudioError(
            f"channels=split needs a recording of {MIN_SPLIT_CHANNELS} to {MAX_SPLIT_CHANNELS} channels; "
            f"this one has {count}"
        )
    heard: list[Transcript] = []
    for channel in range(count):
        label = channel_label(names, channel)
        progress, stage = _reported(channel, count, label, on_progress, on_stage)
        transcript = hear(replace(audio, channel=channel), progress, stage)
        heard.append(replace(transcript, segments=_labelled(transcript.segments, channel, label)))
    return merged(heard)


def _reported(
    channel: int, count: int, label: str, on_progress: ProgressCallback, on_stage: StageCallback
) -> tuple[ProgressCallback, StageCallback]:
    """One channel's reports as parts of the whole: its seconds after the channels before it."""

    def progress(decoded: float, total: float, segments: tuple[Segment, ...]) -> None:
        on_progress(channel * total + decoded, count * total, _labelled(segments, channel, label))

    def stage(covered: float, total: float) -> None:
        on_stage(channel * total + covered, count * total)

    return progress, stage


def _labelled(segments: tuple[Segment, ...], channel: int, label: str) -> tuple[Segment, ...]:
    """The segments as heard on `channel`: its label is their speaker, or comes before the
    speaker diarization found within the channel."""

    def who(speaker: str | None) -> str:
        return label if speaker is None else f"{label} {speaker}"

    return tuple(
        replace(
            segment,
            channel=channel,
            speaker=who(segment.speaker),
            words=tuple(replace(word, speaker=who(word.speaker)) for word in segment.words),
        )
        for segment in segments
    )


def merged(heard: Sequence[Transcript]) -> Transcript:
    """The channels' transcripts as one: segments in time order (the lower channel first where
    two start together), speakers in the order they first speak, and the languages' shares of
    all the channels' speech."""
    segments = sorted(
        (segment for transcript in heard for segment in transcript.segments),
        key=lambda segment: (segment.start, segment.channel or 0),
    )
    speakers = tuple(dict.fromkeys(segment.speaker for segment in segments if segment.speaker))

    def spoken(transcript: Transcript) -> float:
        return sum(segment.end - segment.start for segment in transcript.segments)

    seconds: dict[str, float] = {}
    for transcript in heard:
        for language in transcript.languages:
            seconds[language.language] = seconds.get(language.language, 0.0) + language.share * spoken(
                transcript
            )
    languages = language_shares(seconds)
    return Transcript(
        text=" ".join(segment.text.strip() for segment in segments if segment.text.strip()),
        language=languages[0].language if languages else max(heard, key=spoken).language,
        duration_s=max(transcript.duration_s for transcript in heard),
        segments=tuple(segments),
        speakers=speakers,
        languages=languages,
    )
