"""Assembling and writing an openai-whisper checkpoint from a whisper-named state dict."""

from __future__ import annotations

import base64
import contextlib
import gzip
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from whisper.model import AudioEncoder, TextDecoder

from decoder.errors import ModelImportError

# Head counts of the official Whisper sizes, keyed by width; used only when the source
# does not record them, since they cannot be read off tensor shapes.
_OFFICIAL_HEADS = {384: 6, 512: 8, 768: 12, 1024: 16, 1280: 20}
_BLOCK_INDEX = re.compile(r"(encoder|decoder)\.blocks\.(\d+)\.")
_SHOWN = 3  # how many offending tensor names an error message lists


@dataclass(frozen=True)
class WhisperWeights:
    """A source model translated to whisper's names, plus what shapes cannot tell."""

    state_dict: dict[str, torch.Tensor]
    n_audio_head: int | None
    n_text_head: int | None
    # (decoder layer, head) pairs used for word timestamps, if the source lists them.
    alignment_heads: Sequence[tuple[int, int]] | None


def check_tied(embedding: torch.Tensor, projection: torch.Tensor | None, source: str) -> None:
    """Whisper reuses the token embedding as output projection, so a separate one must equal it."""
    if projection is not None and not torch.equal(embedding, projection):
        raise ModelImportError(
            f"{source}: output projection differs from the token embedding; whisper ties them"
        )


def _shape(state_dict: dict[str, torch.Tensor], key: str) -> tuple[int, ...]:
    if key not in state_dict:
        raise ModelImportError(f"missing tensor {key}")
    return tuple(state_dict[key].shape)


def _heads(n_state: int, given: int | None, side: str) -> int:
    heads = given if given is not None else _OFFICIAL_HEADS.get(n_state)
    if heads is None:
        raise ModelImportError(
            f"the {side} head count is not recorded and width {n_state} is no official size"
        )
    if heads <= 0 or n_state % heads:
        raise ModelImportError(f"{side} width {n_state} cannot be split into {heads} heads")
    return heads


def model_dims(weights: WhisperWeights) -> dict[str, int]:
    """Derives whisper's ModelDimensions fields from tensor shapes and the known head counts."""
    sd = weights.state_dict
    layers: dict[str, set[int]] = {"encoder": set(), "decoder": set()}
    for key in sd:
        if match := _BLOCK_INDEX.match(key):
            layers[match[1]].add(int(match[2]))
    n_audio_ctx, n_audio_state = _shape(sd, "encoder.positional_embedding")
    n_vocab, n_text_state = _shape(sd, "decoder.token_embedding.weight")
    return {
        "n_mels": _shape(sd, "encoder.conv1.weight")[1],
        "n_audio_ctx": n_audio_ctx,
        "n_audio_state": n_audio_state,
        "n_audio_head": _heads(n_audio_state, weights.n_audio_head, "encoder"),
        "n_audio_layer": len(layers["encoder"]),
        "n_vocab": n_vocab,
        "n_text_ctx": _shape(sd, "decoder.positional_embedding")[0],
        "n_text_state": n_text_state,
        "n_text_head": _heads(n_text_state, weights.n_text_head, "decoder"),
        "n_text_layer": len(layers["decoder"]),
    }


def _check_shapes(state_dict: dict[str, torch.Tensor], dims: dict[str, int]) -> None:
    """Compares against whisper's own modules so load_model cannot fail on what we write."""
    # The meta device gives names and shapes without allocating weights; the two halves
    # are built separately because Whisper's constructor uses an op meta tensors lack.
    with torch.device("meta"):
        encoder = AudioEncoder(
            *(dims[k] for k in ("n_mels", "n_audio_ctx", "n_audio_state")),
            dims["n_audio_head"],
            dims["n_audio_layer"],
        )
        decoder = TextDecoder(
            *(dims[k] for k in ("n_vocab", "n_text_ctx", "n_text_state")),
            dims["n_text_head"],
            dims["n_text_layer"],
        )
    expected = {f"encoder.{k}": tuple(v.shape) for k, v in encoder.state_dict().items()}
    expected |= {f"decoder.{k}": tuple(v.shape) for k, v in decoder.state_dict().items()}
    missing = sorted(expected.keys() - state_dict.keys())
    if missing:
        raise ModelImportError(f"missing tensors: {', '.join(missing[:_SHOWN])}")
    unexpected = sorted(state_dict.keys() - expected.keys())
    if unexpected:
        raise ModelImportError(f"unexpected tensors: {', '.join(unexpected[:_SHOWN])}")
    for key, shape in expected.items():
        if tuple(state_dict[key].shape) != shape:
            raise ModelImportError(
                f"shape mismatch for {key}: {list(state_dict[key].shape)}, expected {list(shape)}"
            )


def _alignment_dump(heads: Sequence[tuple[int, int]], dims: dict[str, int]) -> bytes:
    """Encodes heads the way Whisper.set_alignment_heads() decodes them."""
    mask = np.zeros((dims["n_text_layer"], dims["n_text_head"]), dtype=bool)
    for layer, head in heads:
        if not (0 <= layer < mask.shape[0] and 0 <= head < mask.shape[1]):
            raise ModelImportError(f"alignment head ({layer}, {head}) is outside the decoder")
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes()))


def _storage_dtype(state_dict: dict[str, torch.Tensor]) -> torch.dtype:
    # Half precision is what official checkpoints use; anything else (float32, bfloat16,
    # dequantized integers) is stored as float32 so that no value is rounded.
    if all(t.dtype == torch.float16 for t in state_dict.values()):
        return torch.float16
    return torch.float32


def write_checkpoint(weights: WhisperWeights, destination: Path) -> None:
    """Validates the weights and writes them atomically in whisper.load_model's format."""
    dims = model_dims(weights)
    _check_shapes(weights.state_dict, dims)
    dtype = _storage_dtype(weights.state_dict)
    checkpoint: dict[str, object] = {
        "dims": dims,
        "model_state_dict": {k: v.to(dtype).contiguous() for k, v in weights.state_dict.items()},
    }
    if weights.alignment_heads:
        # load_model ignores this key; callers pass it to Whisper.set_alignment_heads().
        checkpoint["alignment_heads"] = _alignment_dump(weights.alignment_heads, dims)
    destination.parent.mkdir(parents=True, exist_ok=True)
    # A temporary file in the same directory makes os.replace atomic, so a crash never
    # leaves a half-written checkpoint under the final name. os.open (unlike mkstemp)
    # lets the umask decide the final file's permissions.
    tmp_path = destination.with_name(f".{destination.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(checkpoint, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_path, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)
        raise
