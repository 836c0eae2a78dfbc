"""What a task asks of its decoding: the options a SubmitTask carries (decoder.wire.protocol),
kept by the front end's job store with the job."""

from __future__ import annotations

from dataclasses import dataclass

# How a recording's channels are heard: mixed to one (as Whisper hears any recording), or each
# decoded on its own as one speaker's (channels=split: a call with a channel per party).
MIXED_CHANNELS, SPLIT_CHANNELS = "mix", "split"
CHANNEL_MODES = (MIXED_CHANNELS, SPLIT_CHANNELS)
# The channels channels=split takes: a stereo call up to a podcast's several microphones.
MIN_SPLIT_CHANNELS, MAX_SPLIT_CHANNELS = 2, 8


@dataclass(frozen=True, slots=True)
class KnownSpeaker:
    """A speaker to name where their voice is heard (OpenAI's known_speaker_names[] and
    known_speaker_references[])."""

    name: str
    # A short recording of them alone, as the client sent it: a base64 data URL.
    reference: str


@dataclass(frozen=True)
class Diarization:
    """Who spoke when (decoder.speakers), asked for per task; None bounds leave it to the voices."""

    min_speakers: int | None = None
    max_speakers: int | None = None
    known: tuple[KnownSpeaker, ...] = ()


@dataclass(frozen=True)
class DecodeOptions:
    """Per-task choices; None leaves each to openai-whisper's default."""

    initial_prompt: str | None = None
    # None: whisper's fallback ladder of temperatures (0.0, 0.2, ... 1.0).
    temperature: float | None = None
    beam_size: int | None = None
    word_timestamps: bool = False
    # An allowed model name; None: the decoder's own choice (MAX_MODEL and the device).
    model: str | None = None
    # faster-whisper: skip stretches without speech (Silero VAD) in this task, as VAD_FILTER
    # does in every task; openai-whisper has no VAD and decodes as usual.
    vad_filter: bool = False
    # Whisper's gate for silence: a window whose no-speech probability is above the first and
    # whose average log probability is below the second is taken as silence; None: the defaults.
    no_speech_threshold: float | None = None
    logprob_threshold: float | None = None
    # Label who said what, after decoding (with word timestamps); None: no speaker labels.
    diarization: Diarization | None = None
    # MIXED_CHANNELS or SPLIT_CHANNELS; split, each channel is labelled by its name here
    # (channel_names[i]) or "channel i".
    channels: str = MIXED_CHANNELS
    channel_names: tuple[str, ...] = ()
