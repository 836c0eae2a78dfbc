"""Reading CTranslate2 (faster-whisper) Whisper models and renaming them to whisper's layout."""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from decoder.errors import ModelImportError
from decoder.model_import.checkpoint import WhisperWeights, check_tied
from decoder.model_import.readers import read_json_object, tensor_from_buffer

_BINARY_VERSION = 6  # the only model.bin layout this reader knows
_SPEC = "WhisperSpec"
_MAX_REVISION = 3  # newer WhisperSpec revisions may rename or add variables
_DTYPES = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}

# Scalars describing choices whisper's architecture hard-codes; a model that differs
# would load but compute something else. 3 is CTranslate2's ActivationType::GELU.
_REQUIRED_SCALARS = {
    "decoder/activation": 3,
    "decoder/pre_norm": 1,
    "decoder/scale_embeddings": 0,
    "decoder/alibi": 0,
}

_TOP_LEVEL = {
    "encoder/conv1/weight": "encoder.conv1.weight",
    "encoder/conv1/bias": "encoder.conv1.bias",
    "encoder/conv2/weight": "encoder.conv2.weight",
    "encoder/conv2/bias": "encoder.conv2.bias",
    "encoder/position_encodings/encodings": "encoder.positional_embedding",
    "encoder/layer_norm/gamma": "encoder.ln_post.weight",
    "encoder/layer_norm/beta": "encoder.ln_post.bias",
    "decoder/embeddings/weight": "decoder.token_embedding.weight",
    "decoder/position_encodings/encodings": "decoder.positional_embedding",
    "decoder/layer_norm/gamma": "decoder.ln.weight",
    "decoder/layer_norm/beta": "decoder.ln.bias",
}
_PROJECTION = "decoder/projection/weight"
_LAYER = re.compile(r"(encoder|decoder)/layer_(\d+)/(.+)/(weight|bias|gamma|beta)")
_LEAF = {"weight": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}
_MODULES = {
    "self_attention/layer_norm": "attn_ln",
    "self_attention/linear_1": "attn.out",
    "attention/layer_norm": "cross_attn_ln",
    "attention/linear_0": "cross_attn.query",
    "attention/linear_2": "cross_attn.out",
    "ffn/layer_norm": "mlp_ln",
    "ffn/linear_0": "mlp.0",
    "ffn/linear_1": "mlp.2",
}
# CTranslate2 fuses projections into one matrix, stacked along the output dimension.
_FUSED = {
    "self_attention/linear_0": ("attn.query", "attn.key", "attn.value"),
    "attention/linear_1": ("cross_attn.key", "cross_attn.value"),
}


@dataclass(frozen=True)
class CT2File:
    """The contents of a model.bin: spec identity, variables, and alias -> target names."""

    spec: str
    revision: int
    variables: dict[str, torch.Tensor]
    aliases: dict[str, str]


class _Cursor:
    """Sequential reader over the mapped file; struct.error signals truncation."""

    def __init__(self, buffer: mmap.mmap) -> None:
        self.buffer = buffer
        self.offset = 0

    def unpack(self, fmt: str) -> int:
        (value,) = struct.unpack_from("<" + fmt, self.buffer, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return int(value)

    def string(self) -> str:
        size = self.unpack("H")  # length including the terminating NUL
        raw = self.buffer[self.offset : self.offset + size]
        if size == 0 or len(raw) != size or raw[-1] != 0:
            raise ModelImportError(f"malformed string at byte {self.offset - 2} (truncated file?)")
        self.offset += size
        return raw[:-1].decode("utf-8")


def read_ct2_file(path: Path) -> CT2File:
    """Parses a CTranslate2 model.bin (binary version 6) into CPU tensors."""
    if path.stat().st_size == 0:
        raise ModelImportError(f"{path} is empty")
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
        cursor = _Cursor(buffer)
        try:
            version = cursor.unpack("I")
            if version != _BINARY_VERSION:
                raise ModelImportError(f"{path}: unsupported CTranslate2 binary version {version}")
            spec, revision = cursor.string(), cursor.unpack("I")
            variables: dict[str, torch.Tensor] = {}
            for _ in range(cursor.unpack("I")):
                name = cursor.string()
                shape = [cursor.unpack("I") for _ in range(cursor.unpack("B"))]
                dtype_id, nbytes = cursor.unpack("B"), cursor.unpack("I")
                if dtype_id not in _DTYPES:
                    raise ModelImportError(f"{path}: variable {name} has unsupported dtype id {dtype_id}")
                variables[name] = tensor_from_buffer(
                    buffer, cursor.offset, nbytes, _DTYPES[dtype_id], shape, name
                )
                cursor.offset += nbytes
            aliases = {cursor.string(): cursor.string() for _ in range(cursor.unpack("I"))}
        except struct.error as exc:
            raise ModelImportError(
                f"{path} ends unexpectedly at byte {cursor.offset} (truncated file?)"
            ) from exc
    return CT2File(spec, revision, variables, aliases)


def _as_float(variables: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """Undoes CTranslate2's int8/int16 weight quantization, which stores w * scale."""
    tensor = variables[name]
    if tensor.is_floating_point():
        return tensor
    scale = variables.get(f"{name}_scale")
    if scale is None:
        raise ModelImportError(f"variable {name} is {tensor.dtype} without a {name}_scale to dequantize it")
    # int8 scales are per output row; int16 uses a single scalar.
    scale = scale.float().reshape(-1, *([1] * (tensor.dim() - 1))) if scale.dim() else scale.float()
    return tensor.float() / scale


def _check_header(model: CT2File, path: Path) -> None:
    if model.spec != _SPEC:
        raise ModelImportError(f"{path}: spec {model.spec!r} is not a Whisper model")
    if model.revision > _MAX_REVISION:
        raise ModelImportError(f"{path}: unsupported {_SPEC} revision {model.revision}")
    for name, expected in _REQUIRED_SCALARS.items():
        if name in model.variables and int(model.variables[name]) != expected:
            raise ModelImportError(f"{path}: {name}={int(model.variables[name])} is not supported by whisper")


def _scalar(variables: dict[str, torch.Tensor], name: str) -> int | None:
    return int(variables[name]) if name in variables else None


def _alignment_heads(directory: Path) -> list[tuple[int, int]] | None:
    config_path = directory / "config.json"
    if not config_path.is_file():
        return None
    heads = read_json_object(config_path).get("alignment_heads")
    return [(int(layer), int(head)) for layer, head in heads] if heads else None


def load_ct2(directory: Path) -> WhisperWeights:
    """Reads directory/model.bin (and config.json's alignment heads) as whisper weights."""
    path = directory / "model.bin"
    model = read_ct2_file(path)
    _check_header(model, path)
    variables = model.variables
    state_dict: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for name, tensor in variables.items():
        is_scale = name.endswith("_scale") and name.removesuffix("_scale") in variables
        if tensor.dim() == 0 or name == _PROJECTION or is_scale:
            continue  # metadata scalars, the projection (checked below) and quantization scales
        layer = _LAYER.fullmatch(name)
        if name in _TOP_LEVEL:
            state_dict[_TOP_LEVEL[name]] = _as_float(variables, name)
        elif layer and layer[3] in _MODULES:
            prefix = f"{layer[1]}.blocks.{layer[2]}.{_MODULES[layer[3]]}"
            state_dict[f"{prefix}.{_LEAF[layer[4]]}"] = _as_float(variables, name)
        elif layer and layer[3] in _FUSED:
            parts = _FUSED[layer[3]]
            for part, chunk in zip(parts, _as_float(variables, name).chunk(len(parts)), strict=True):
                # whisper's key projection has no bias: a per-query constant added to every
                # attention logit cancels in the softmax, so dropping it is exact.
                if not (part.endswith(".key") and layer[4] == "bias"):
                    state_dict[f"{layer[1]}.blocks.{layer[2]}.{part}.{layer[4]}"] = chunk.clone()
        else:
            unknown.append(name)
    if unknown:
        raise ModelImportError(f"{path}: unknown variables {', '.join(unknown[:3])}")
    projection = model.aliases.get(_PROJECTION, _PROJECTION)
    if "decoder.token_embedding.weight" in state_dict and projection in variables:
        check_tied(state_dict["decoder.token_embedding.weight"], _as_float(variables, projection), str(path))
    return WhisperWeights(
        state_dict=state_dict,
        n_audio_head=_scalar(variables, "encoder/num_heads"),
        n_text_head=_scalar(variables, "decoder/num_heads"),
        alignment_heads=_alignment_heads(directory),
    )
