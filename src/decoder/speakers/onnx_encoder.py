"""Speaker encoders imported as ONNX files (WeSpeaker's exports, and the models of pyannote and
3D-Speaker that follow them): Kaldi filter banks in (decoder.speakers.fbank, each clip's mean
removed), one embedding per clip out, on onnxruntime (which faster-whisper brings).

    check_onnx_encoder(path) -> the embedding size, or SpeakerEncoderError saying what is wrong
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from decoder.errors import SpeakerEncoderError
from decoder.speakers.fbank import BINS, fbank

if TYPE_CHECKING:
    from decoder.audio.samples import Samples
    from decoder.speakers.base import Embeddings


def _session(path: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own, unexported error types
        raise SpeakerEncoderError(f"{path.name} is not an ONNX model onnxruntime can load") from exc


def check_onnx_encoder(path: Path) -> int:
    """The size of the embeddings the model at `path` gives for a clip of 1 s."""
    session = _session(path, 1)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    shape = inputs[0].shape if len(inputs) == 1 else None
    if shape is None or len(shape) != 3 or shape[2] != BINS:
        raise SpeakerEncoderError(
            f"{path.name}: a speaker encoder takes one input of (batch, frames, {BINS})"
        )
    try:
        embedding = session.run(None, {inputs[0].name: np.zeros((1, 98, BINS), np.float32)})[0]
    except Exception as exc:
        raise SpeakerEncoderError(f"{path.name} fails on a clip of 1 s: {exc}") from exc
    if len(outputs) < 1 or np.ndim(embedding) != 2 or embedding.shape[0] != 1 or not embedding.shape[1]:
        raise SpeakerEncoderError(f"{path.name}: a speaker encoder gives one (batch, size) embedding")
    return int(embedding.shape[1])


class OnnxEncoder:
    def __init__(self, path: Path, threads: int) -> None:
        self.name = path.stem
        self._session = _session(path, threads)
        self._input = self._session.get_inputs()[0].name

    def embed(self, clips: Sequence[Samples]) -> Embeddings:
        """Clips of one length (most windows are) go through the model together."""
        features = [fbank(clip) for clip in clips]
        by_length: dict[int, list[int]] = {}
        for index, frames in enumerate(features):
            by_length.setdefault(len(frames), []).append(index)
        rows: dict[int, Embeddings] = {}
        for indices in by_length.values():
            batch = np.stack([features[index] - features[index].mean(axis=0) for index in indices])
            raw = np.asarray(self._session.run(None, {self._input: batch})[0], dtype=np.float32)
            norms = np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)
            for index, row in zip(indices, raw / norms, strict=True):
                rows[index] = row
        return (
            np.stack([rows[index] for index in range(len(clips))]) if rows else np.zeros((0, 1), np.float32)
        )
