"""The ears of a live session: a client's audio, decoded to 16 kHz samples in frames of 32 ms,
each with the probability that it holds speech (the Silero model that faster-whisper ships).

The one module of the front end with numpy and onnxruntime; it is imported when a live session
first hears audio, so a server nobody talks to live never loads either.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from whisper_api.live.formats import SAMPLE_RATE, AudioFormat

Floats = np.ndarray[Any, np.dtype[np.float32]]
# Silero's step at 16 kHz, and the samples of the step before that it sees with each one.
FRAME_SAMPLES = 512
CONTEXT_SAMPLES = 64
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


def silero_model_path() -> Path:
    """The Silero VAD model in faster-whisper's package, found without importing faster-whisper."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("faster-whisper is not installed; live sessions need its Silero VAD model")
    found = sorted(Path(next(iter(spec.submodule_search_locations)), "assets").glob("silero_vad*.onnx"))
    if not found:
        raise RuntimeError("faster-whisper's package holds no Silero VAD model")
    return found[-1]


class Ears:
    """One session's audio in, frames of 16 kHz samples with their speech probability out."""

    _model: onnxruntime.InferenceSession | None = None
    _loading = threading.Lock()

    def __init__(self, audio_format: AudioFormat) -> None:
        self.format = audio_format
        self._resample = Resampler(audio_format.rate)
        self._pending = np.zeros(0, np.float32)
        # A PCM16 sample split between two appends: its first byte.
        self._split = b""
        self._state = np.zeros((2, 1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, np.float32)

    @classmethod
    def _silero(cls) -> onnxruntime.InferenceSession:
        # One model for every session: a session's state lives in its own arrays. Sessions hear
        # on several threads, and the first ones may come together.
        with cls._loading:
            if cls._model is None:
                options = onnxruntime.SessionOptions()
                options.inter_op_num_threads = options.intra_op_num_threads = 1
                options.log_severity_level = 4
                cls._model = onnxruntime.InferenceSession(
                    str(silero_model_path()), providers=["CPUExecutionProvider"], sess_options=options
                )
            return cls._model

    def hear(self, data: bytes) -> list[tuple[bytes, float]]:
        """The whole frames the audio completes: their samples (float32 bytes) and speech
        probability; a part frame waits for the next audio."""
        data = self._split + data
        whole_bytes = len(data) - len(data) % (2 if self.format.encoding == "pcm16" else 1)
        data, self._split = data[:whole_bytes], data[whole_bytes:]
        samples = np.concatenate([self._pending, self._resample(decoded(data, self.format))])
        whole = len(samples) // FRAME_SAMPLES * FRAME_SAMPLES
        frames, self._pending = samples[:whole].reshape(-1, FRAME_SAMPLES), samples[whole:]
        if not len(frames):
            return []
        before = np.concatenate([self._context[None, :], frames[:-1, -CONTEXT_SAMPLES:]])
        self._context = frames[-1, -CONTEXT_SAMPLES:].copy()
        rows = np.concatenate([before, frames], axis=1)
        probabilities, hn, cn = self._silero().run(
            None, {"input": rows, "h": self._state[0], "c": self._state[1]}
        )
        self._state = np.stack([hn, cn])
        return [(frame.tobytes(), float(p)) for frame, p in zip(frames, np.ravel(probabilities), strict=True)]
