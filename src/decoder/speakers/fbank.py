"""Kaldi's log Mel filter-bank features, as speaker models from WeSpeaker (and pyannote's and
3D-Speaker's exports of them) are trained on: the input of their ONNX files.

Kaldi's defaults, with dither off as at inference: frames of 25 ms every 10 ms, only whole
frames ("snip edges"); each frame's mean removed, pre-emphasis 0.97, Povey's window, zero-padded
to 512 samples; the power spectrum through 80 triangular filters evenly spaced on the mel scale
1127 ln(1 + f / 700) from 20 Hz to Nyquist; the log, floored at float32's epsilon. Samples are
taken at 16-bit scale, as those models' training read them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from decoder.audio.samples import SAMPLE_RATE

Features = npt.NDArray[np.float32]

BINS = 80
FRAME = SAMPLE_RATE * 25 // 1000
SHIFT = SAMPLE_RATE * 10 // 1000
_FFT = 512
_LOW_HZ = 20.0
_PREEMPHASIS = 0.97
_EPSILON = float(np.finfo(np.float32).eps)


def _mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(1127.0 * np.log1p(hz / 700.0))


def _filters() -> npt.NDArray[np.float64]:
    """(BINS, _FFT // 2) triangles over the FFT's bins (Nyquist's left out, as Kaldi does)."""
    edges = np.linspace(_mel(np.array(_LOW_HZ)), _mel(np.array(SAMPLE_RATE / 2)), BINS + 2)
    bins = _mel(np.arange(_FFT // 2) * SAMPLE_RATE / _FFT)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - left) / (centre - left)
    falling = (right - bins) / (right - centre)
    return np.asarray(np.maximum(0.0, np.minimum(rising, falling)))


_FILTERS = _filters()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME) / (FRAME - 1))) ** 0.85


def frame_count(samples: int) -> int:
    return 0 if samples < FRAME else 1 + (samples - FRAME) // SHIFT


def fbank(samples: npt.NDArray[np.float32]) -> Features:
    """(frames, BINS) log filter-bank energies of 16 kHz samples in [-1, 1]."""
    count = frame_count(len(samples))
    if not count:
        return np.zeros((0, BINS), np.float32)
    scaled = samples.astype(np.float64) * 32768.0
    starts = np.arange(count) * SHIFT
    frames = scaled[starts[:, None] + np.arange(FRAME)]
    frames -= frames.mean(axis=1, keepdims=True)
    frames[:, 1:] -= _PREEMPHASIS * frames[:, :-1].copy()
    frames[:, 0] *= 1 - _PREEMPHASIS
    power = np.abs(np.fft.rfft(frames * _WINDOW, _FFT)) ** 2
    energies = power[:, : _FFT // 2] @ _FILTERS.T
    return np.log(np.maximum(energies, _EPSILON)).astype(np.float32)
