"""The ears of a live session: a client's audio, decoded to 16 kHz samples in frames of 32 ms,
each with the probability that it holds speech (the Silero model that faster-whisper ships).

The one module of the front end with numpy and onnxruntime; it is imported when a live session
first hears audio, so a server nobody talks to live never loads either.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from decoder.audio.voice_activity import SileroStream
from whisper_api.live.formats import SAMPLE_RATE, AudioFormat

Floats = np.ndarray[Any, np.dtype[np.float32]]
# The low-pass filter in front of a rate that is lowered: taps, and its edge below the new Nyquist.
TAPS = 63
PASSBAND = 0.9
# The bias G.711's mu-law adds before its logarithm.
MU_LAW_BIAS = 0x84


class Resampler:
    """A stream of samples at one rate to 16 kHz, chunk by chunk with no seam between chunks:
    a windowed-sinc low-pass where the rate is lowered, then linear interpolation."""

    def __init__(self, rate: int) -> None:
        self._step = rate / SAMPLE_RATE
        self._filter: Floats | None = None
        if rate > SAMPLE_RATE:
            cutoff = PASSBAND * 0.5 * SAMPLE_RATE / rate
            taps = np.arange(TAPS) - (TAPS - 1) / 2
            kernel = 2 * cutoff * np.sinc(2 * cutoff * taps) * np.hamming(TAPS)
            self._filter = (kernel / kernel.sum()).astype(np.float32)
        self._history = np.zeros(TAPS - 1, np.float32)
        # The last sample given out so far, and where the next output falls after it.
        self._last = np.float32(0)
        self._position = 0.0

    def __call__(self, samples: Floats) -> Floats:
        if self._step == 1:
            return samples
        if self._filter is not None:
            padded = np.concatenate([self._history, samples])
            self._history = padded[len(padded) - (TAPS - 1) :]
            samples = np.convolve(padded, self._filter, mode="valid").astype(np.float32)
        # Index 0 is the last sample of the chunk before; outputs fall at self._position + k * step.
        known = np.concatenate([[self._last], samples]).astype(np.float32)
        wanted = np.arange(self._position, len(known) - 1, self._step)
        following = wanted[-1] + self._step if len(wanted) else self._position
        self._position = following - len(samples)
        self._last = known[-1]
        resampled: Floats = np.interp(wanted, np.arange(len(known)), known).astype(np.float32)
        return resampled


def decoded(data: bytes, audio_format: AudioFormat) -> Floats:
    """Samples in [-1, 1] of whole PCM16 samples (little-endian) or G.711 bytes (ITU-T G.711's
    expansions)."""
    if audio_format.encoding == "pcm16":
        return (np.frombuffer(data, "<i2") / 32768).astype(np.float32)
    codes = np.frombuffer(data, np.uint8).astype(np.int32)
    if audio_format.encoding == "mulaw":
        codes = ~codes & 0xFF
        magnitude = (((codes & 0x0F) << 3) + MU_LAW_BIAS) << ((codes & 0x70) >> 4)
        values = np.where(codes & 0x80, MU_LAW_BIAS - magnitude, magnitude - MU_LAW_BIAS)
    else:
        codes = codes ^ 0x55
        segment = (codes & 0x70) >> 4
        mantissa = (codes & 0x0F) << 4
        magnitude = np.where(segment == 0, mantissa + 8, (mantissa + 0x108) << np.maximum(segment - 1, 0))
        values = np.where(codes & 0x80, magnitude, -magnitude)
    return (values / 32768).astype(np.float32)


class Ears:
    """One session's audio in, frames of 16 kHz samples with their speech probability out."""

    def __init__(self, audio_format: AudioFormat) -> None:
        self.format = audio_format
        self._resample = Resampler(audio_format.rate)
        self._silero = SileroStream()
        # A PCM16 sample split between two appends: its first byte.
        self._split = b""

    def hear(self, data: bytes) -> list[tuple[bytes, float]]:
        """The whole frames the audio completes: their samples (float32 bytes) and speech
        probability; a part frame waits for the next audio."""
        data = self._split + data
        whole_bytes = len(data) - len(data) % (2 if self.format.encoding == "pcm16" else 1)
        data, self._split = data[:whole_bytes], data[whole_bytes:]
        frames, probabilities = self._silero(self._resample(decoded(data, self.format)))
        return [(frame.tobytes(), float(p)) for frame, p in zip(frames, probabilities, strict=True)]
