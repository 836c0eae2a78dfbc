"""Speaker encoders: a clip of speech in, a unit vector that is close for clips of one voice.

    SpeakerEncoder.embed(clips) -> (len(clips), dim) array of L2-normed rows
    load_encoder(model_dir, name, threads) -> the encoder SPEAKER_ENCODER names, from MODEL_DIR

An encoder imported from an ONNX file runs on onnxruntime (decoder.speakers.onnx_encoder). The
default one is resemblyzer's pretrained voice encoder (GE2E, Apache-2.0): its weights
ship inside the resemblyzer wheel, so no hub is asked. Its network is small and written out
here on torch (three LSTM layers of 256 over 40 Mel bands, a linear layer, ReLU, L2 norm), with
its input features computed the way it was trained on: 25 ms Hann windows every 10 ms, the
power spectrum through 40 Slaney-style Mel filters, no log. resemblyzer's own code is not
imported: it needs librosa and webrtcvad, which nothing else here does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from decoder.audio.samples import SAMPLE_RATE
from decoder.errors import EncoderMissing
from decoder.speakers.base import Embeddings, SpeakerEncoder
from decoder.speakers.onnx_encoder import OnnxEncoder
from decoder.wire.speaker_files import DEFAULT_SPEAKER_ENCODER, encoder_path

if TYPE_CHECKING:
    from decoder.audio.samples import Samples

_N_FFT = SAMPLE_RATE * 25 // 1000
_HOP = SAMPLE_RATE * 10 // 1000
_MELS = 40
_HIDDEN = 256
_LAYERS = 3
# resemblyzer raises quiet speech to this loudness before its features (never lowers it).
_TARGET_DBFS = -30.0
# Frames this far below a clip's loudest (40 dB) are pauses, left out of its embedding.
_QUIET = 1e-4
# Clips embedded in one call of the network.
_BATCH = 64


def load_encoder(model_dir: Path, name: str, threads: int) -> SpeakerEncoder:
    """The encoder SPEAKER_ENCODER names, on the CPU: resemblyzer's, or an imported ONNX one."""
    path = encoder_path(model_dir, name)
    if not path.is_file():
        # Clients read this: no server path in it.
        how = (
            "install resemblyzer and run `whisper-api ensure-model`"
            if name == DEFAULT_SPEAKER_ENCODER
            else f"import it with `whisper-api import-model FILE.onnx --name {name}`"
        )
        raise EncoderMissing(f"this server has no speaker encoder {name!r}: {how}")
    if name != DEFAULT_SPEAKER_ENCODER:
        return OnnxEncoder(path, threads)
    import torch

    torch.set_num_threads(threads)
    return VoiceEncoder(path, "cpu")


def slaney_mel_filters(n_mels: int = _MELS, n_fft: int = _N_FFT, rate: int = SAMPLE_RATE) -> Embeddings:
    """Triangular filters evenly spaced on the Slaney Mel scale (linear below 1 kHz, logarithmic
    above), each scaled to unit area, over the FFT's bins from 0 Hz to Nyquist."""
    linear_step = 200.0 / 3
    knee_mel = 1000.0 / linear_step
    log_step = math.log(6.4) / 27.0

    def to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        above = knee_mel + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step
        return np.where(hz >= 1000.0, above, hz / linear_step)

    def to_hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.where(mel >= knee_mel, 1000.0 * np.exp(log_step * (mel - knee_mel)), mel * linear_step)

    bins = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    edges = to_hz(np.linspace(0.0, float(to_mel(np.array(rate / 2.0))), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return filters.astype(np.float32)


class VoiceEncoder:
    """resemblyzer's voice encoder, from its `pretrained.pt`."""

    name = "resemblyzer"

    def __init__(self, weights: Path, device: str) -> None:
        import torch

        self._torch = torch
        self._device = torch.device(device)
        self._lstm = torch.nn.LSTM(_MELS, _HIDDEN, _LAYERS, batch_first=True)
        self._linear = torch.nn.Linear(_HIDDEN, _HIDDEN)
        state = torch.load(weights, map_location="cpu", weights_only=True)["model_state"]
        self._lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        self._linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        self._lstm.to(self._device).eval()
        self._linear.to(self._device).eval()
        self._filters = torch.from_numpy(slaney_mel_filters()).to(self._device)
        self._window = torch.hann_window(_N_FFT, device=self._device)

    def embed(self, clips: Sequence[Samples]) -> Embeddings:
        rows = [self._embed_batch(clips[i : i + _BATCH]) for i in range(0, len(clips), _BATCH)]
        return np.concatenate(rows) if rows else np.zeros((0, _HIDDEN), np.float32)

    def _features(self, clip: Samples) -> Any:
        torch = self._torch
        samples = torch.from_numpy(np.ascontiguousarray(clip, dtype=np.float32)).to(self._device)
        loudness = 10 * math.log10(float((samples**2).mean()) + 1e-12)
        if loudness < _TARGET_DBFS:
            samples = samples * 10 ** ((_TARGET_DBFS - loudness) / 20)
        spectrum = torch.stft(
            samples, _N_FFT, _HOP, window=self._window, center=True, pad_mode="constant", return_complex=True
        )
        bands = (self._filters @ spectrum.abs() ** 2).T
        # Pauses inside the clip say nothing of the voice: frames far below its loudest go.
        energy = bands.sum(dim=1)
        return bands[energy >= energy.max() * _QUIET]

    def _embed_batch(self, clips: Sequence[Samples]) -> Embeddings:
        torch = self._torch
        rnn = torch.nn.utils.rnn
        with torch.inference_mode():
            frames = [self._features(clip) for clip in clips]
            lengths = torch.tensor([len(f) for f in frames])
            padded = rnn.pad_sequence(frames, batch_first=True)
            packed = rnn.pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
            _, (hidden, _) = self._lstm(packed)
            raw = torch.relu(self._linear(hidden[-1]))
            unit = raw / raw.norm(dim=1, keepdim=True).clamp_min(1e-12)
            return np.asarray(unit.cpu().numpy(), dtype=np.float32)
