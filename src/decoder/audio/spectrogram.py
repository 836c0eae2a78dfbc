"""Whisper's log-Mel spectrogram of a recording of any length, computed a window at a time.

Both libraries compute the spectrogram of the whole file before the first window is decoded:
hundreds of megabytes an hour. Both then read it only in forward slices of 30 s (3000 frames), so
this module gives them an object that computes those slices as they are asked for, from a second
ffmpeg run over the file, holding a few windows at most.

The frames are the libraries' own, in the same order of operations: frame f is the 400-sample
Hann-windowed FFT at sample 160·f of the padded signal (200 samples reflected at the start, the
audio, the library's zero padding), its power through the Mel filters, log10 of it clamped at
1e-10, then raised to at least (the file's maximum - 8) and mapped by (x + 4) / 4. That maximum
is over the whole file, so a first pass over the stream (the survey) finds it, with the length.

    survey(file, recipe, whole_file_limit_s) -> Survey
        a recording up to the limit comes back whole, for the library's own path, and
        the stretches worth decoding (decoder.audio.silence) with it
    StreamedMel(recording, recipe) -> .shape, .frames(start, stop), as a context manager
        (of the speech alone where the recording is LongRecording.only(spans))
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from types import TracebackType

import numpy as np
import numpy.typing as npt

from decoder.audio.ffmpeg import AudioFile, pcm_stream
from decoder.audio.samples import SAMPLE_RATE, Samples
from decoder.audio.silence import LoudSeconds
from decoder.audio.voice_activity import Span, spliced

Frames = npt.NDArray[np.float32]
N_FFT = 400
HOP_LENGTH = 160
# torch.stft and faster-whisper's stft centre each frame: half a window is reflected at the start.
_HALF_WINDOW = N_FFT // 2
# The last frame the libraries keep reaches this far into the reflection of the (zero) end.
_TAIL = N_FFT - HOP_LENGTH - _HALF_WINDOW
# Frames computed in one call of the recipe: one of Whisper's windows.
BLOCK_FRAMES = 3000
# What log10 of the clamped power is where the signal is zero.
_FLOOR = -10.0


@dataclass(frozen=True)
class MelRecipe:
    """How one library turns samples into log-Mel frames.

    `log_power` gets the samples of k frames laid end to end (160·(k-1) + 400 of them, no
    padding) and returns log10 of their clamped Mel power, shaped (n_mels, k)."""

    n_mels: int
    # The zeros the library appends to the audio before its STFT.
    padding: int
    log_power: Callable[[Samples], Frames]


@dataclass(frozen=True)
class LongRecording:
    """What the survey learnt of a recording too long to hold whole."""

    file: AudioFile
    samples: int
    # The largest log10 Mel power over the whole padded recording.
    peak: float
    # Where only the speech is decoded: its spans of the file, which are the recording end to end.
    speech: tuple[Span, ...] | None = None

    def only(self, speech: Sequence[Span]) -> LongRecording:
        """The recording of the spans of speech alone (its peak stays the whole file's)."""
        return replace(self, samples=sum(end - start for start, end in speech), speech=tuple(speech))


def frame_count(samples: int, padding: int) -> int:
    """How many frames the libraries' spectrogram of `samples` samples has."""
    return (samples + padding) // HOP_LENGTH


@dataclass(frozen=True)
class Survey:
    """The recording (whole, or what is known of it where it is too long to hold), and the
    stretches to decode (decoder.audio.silence: None for all of it)."""

    audio: Samples | LongRecording
    clips: list[float] | None

    @property
    def duration_s(self) -> float:
        samples = self.audio.samples if isinstance(self.audio, LongRecording) else len(self.audio)
        return samples / SAMPLE_RATE


def survey(file: AudioFile, recipe: MelRecipe, whole_file_limit_s: float) -> Survey:
    """The whole recording where it is at most `whole_file_limit_s` long, else its length and peak.

    One ffmpeg run, held to the file's timeout; only the recording's first `whole_file_limit_s`
    seconds are ever held.
    """
    limit = whole_file_limit_s * SAMPLE_RATE
    kept: list[Samples] = []
    loudness = LoudSeconds()
    with pcm_stream(file, timed=True) as blocks:
        heard = _Heard(blocks, loudness)
        for block in heard:
            kept.append(block)
            if loudness.samples > limit:
                break
        else:
            whole = np.concatenate(kept) if kept else np.zeros(0, np.float32)
            return Survey(whole, loudness.clip_timestamps())
        rest = itertools.chain(kept, heard)
        del kept
        peak = max(float(frames.max()) for frames in log_power_blocks(rest, recipe))
    return Survey(LongRecording(file, loudness.samples, peak), loudness.clip_timestamps())


class _Heard:
    """Passes blocks on, and each to a LoudSeconds first."""

    def __init__(self, blocks: Iterable[Samples], loudness: LoudSeconds) -> None:
        self._blocks = iter(blocks)
        self._loudness = loudness

    def __iter__(self) -> Iterator[Samples]:
        return self

    def __next__(self) -> Samples:
        block = next(self._blocks)
        self._loudness.add(block)
        return block


def log_power_blocks(blocks: Iterable[Samples], recipe: MelRecipe) -> Iterator[Frames]:
    """log10 Mel power of every frame of the padded recording, BLOCK_FRAMES at a time."""
    padded = itertools.chain(blocks, [np.zeros(recipe.padding + _TAIL, np.float32)])
    buffer = np.zeros(0, np.float32)
    started = False
    span = HOP_LENGTH * (BLOCK_FRAMES - 1) + N_FFT
    for block in padded:
        buffer = np.concatenate((buffer, block))
        if not started:
            if len(buffer) <= _HALF_WINDOW:
                continue
            # The reflection leaves out the first sample, as numpy's and torch's "reflect" do.
            buffer = np.concatenate((buffer[_HALF_WINDOW:0:-1], buffer))
            started = True
        while len(buffer) >= span:
            yield recipe.log_power(buffer[:span])
            buffer = buffer[HOP_LENGTH * BLOCK_FRAMES :]
    if started and len(buffer) >= N_FFT:
        count = 1 + (len(buffer) - N_FFT) // HOP_LENGTH
        yield recipe.log_power(buffer[: HOP_LENGTH * (count - 1) + N_FFT])


class StreamedMel:
    """The recording's spectrogram, computed forward as its slices are asked for."""

    def __init__(self, recording: LongRecording, recipe: MelRecipe) -> None:
        self._recipe = recipe
        self._floor = recording.peak - 8.0
        self.shape = (recipe.n_mels, frame_count(recording.samples, recipe.padding))
        self._stream = pcm_stream(recording.file, timed=False)
        self._speech = recording.speech
        self._blocks: Iterator[Frames] | None = None
        # Frames [self._start, self._start + self._held.shape[1]) are held.
        self._start = 0
        self._held = np.zeros((recipe.n_mels, 0), np.float32)

    def __enter__(self) -> StreamedMel:
        blocks = self._stream.__enter__()
        if self._speech is not None:
            blocks = spliced(blocks, self._speech)
        self._blocks = log_power_blocks(blocks, self._recipe)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stream.__exit__(kind, error, trace)

    def frames(self, start: int, stop: int) -> Frames:
        """The spectrogram's frames [start, stop) as the library computes them; `start` never
        goes back before an earlier call's."""
        assert self._blocks is not None, "StreamedMel is used as a context manager"
        if start < self._start:
            raise ValueError(f"frame {start} was already dropped (frames from {self._start} are held)")
        stop = min(stop, self.shape[1])
        while True:
            # Frames before `start` are never asked for again.
            dropped = min(start - self._start, self._held.shape[1])
            self._held, self._start = self._held[:, dropped:], self._start + dropped
            missing = stop - self._start - self._held.shape[1]
            if missing <= 0:
                break
            block = next(self._blocks, None)
            if block is None:
                # A second decode shorter than the first: the missing end is silence.
                block = np.full((self.shape[0], missing), _FLOOR, np.float32)
            self._held = np.concatenate((self._held, block), axis=1)
        wanted = self._held[:, : stop - start]
        scaled: Frames = (np.maximum(wanted, np.float32(self._floor)) + np.float32(4.0)) / np.float32(4.0)
        return scaled
