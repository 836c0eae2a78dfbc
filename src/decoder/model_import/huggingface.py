"""Reading Hugging Face transformers Whisper directories and renaming them to whisper's layout."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from safetensors import SafetensorError

from decoder.errors import ModelImportError
from decoder.model_import.checkpoint import WhisperWeights, check_tied
from decoder.model_import.readers import read_json_object

# Looked up in this order; the index files name the shards of a split checkpoint.
_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
# Whisper checkpoints hold floating-point weights only.
_FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

_TOP_LEVEL = {
    "encoder.conv1.weight": "encoder.conv1.weight",
    "encoder.conv1.bias": "encoder.conv1.bias",
    "encoder.conv2.weight": "encoder.conv2.weight",
    "encoder.conv2.bias": "encoder.conv2.bias",
    "encoder.embed_positions.weight": "encoder.positional_embedding",
    "encoder.layer_norm.weight": "encoder.ln_post.weight",
    "encoder.layer_norm.bias": "encoder.ln_post.bias",
    "decoder.embed_tokens.weight": "decoder.token_embedding.weight",
    "decoder.embed_positions.weight": "decoder.positional_embedding",
    "decoder.layer_norm.weight": "decoder.ln.weight",
    "decoder.layer_norm.bias": "decoder.ln.bias",
}
_PROJECTION = "proj_out.weight"
_LAYER = re.compile(r"(encoder|decoder)\.layers\.(\d+)\.(.+)\.(weight|bias)")
_MODULES = {
    "self_attn.q_proj": "attn.query",
    "self_attn.k_proj": "attn.key",
    "self_attn.v_proj": "attn.value",
    "self_attn.out_proj": "attn.out",
    "self_attn_layer_norm": "attn_ln",
    "encoder_attn.q_proj": "cross_attn.query",
    "encoder_attn.k_proj": "cross_attn.key",
    "encoder_attn.v_proj": "cross_attn.value",
    "encoder_attn.out_proj": "cross_attn.out",
    "encoder_attn_layer_norm": "cross_attn_ln",
    "fc1": "mlp.0",
    "fc2": "mlp.2",
    "final_layer_norm": "mlp_ln",
}


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors file, read by the format's reference implementation."""
    try:
        tensors = safetensors.torch.load_file(path, device="cpu")
    except SafetensorError as exc:
        raise ModelImportError(f"{path} is not a readable safetensors file: {exc}") from exc
    for name, tensor in tensors.items():
        if tensor.dtype not in _FLOAT_DTYPES:
            raise ModelImportError(f"{path}: tensor {name} has unsupported dtype {tensor.dtype}")
    return tensors


def _read_torch(path: Path) -> dict[str, torch.Tensor]:
    # weights_only refuses arbitrary pickled code from an untrusted download.
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ModelImportError(f"{path} is not a plain state dict of tensors")
    return data


def _read_weights(directory: Path) -> dict[str, torch.Tensor]:
    for file_name in _WEIGHT_FILES:
        path = directory / file_name
        if not path.is_file():
            continue
        if file_name.endswith(".index.json"):
            shards = sorted(set(read_json_object(path)["weight_map"].values()))
            reader = read_safetensors if file_name.startswith("model.safetensors") else _read_torch
            return {k: v for shard in shards for k, v in reader(directory / shard).items()}
        return read_safetensors(path) if file_name.endswith(".safetensors") else _read_torch(path)
    raise ModelImportError(f"{directory}: no weights found (expected one of {', '.join(_WEIGHT_FILES)})")


def _check_config(config: dict[str, Any], directory: Path) -> None:
    # whisper hard-codes exact GELU and unscaled token embeddings.
    activation = config.get("activation_function", "gelu")
    if activation != "gelu":
        raise ModelImportError(f"{directory}: activation {activation!r} is not supported by whisper")
    if config.get("scale_embedding"):
        raise ModelImportError(f"{directory}: scale_embedding=true is not supported by whisper")


def _head_count(config: dict[str, Any], key: str) -> int | None:
    value = config.get(key)
    if value is not None and not isinstance(value, int):
        raise ModelImportError(f"config.json: {key}={value!r} is not an integer")
    return value


def _alignment_heads(directory: Path) -> list[tuple[int, int]] | None:
    # Hugging Face keeps the word-timestamp heads in the generation config.
    path = directory / "generation_config.json"
    heads = read_json_object(path).get("alignment_heads") if path.is_file() else None
    return [(int(layer), int(head)) for layer, head in heads] if heads else None


def _rename(name: str) -> str | None:
    """Whisper name for an HF tensor name without its "model." prefix; None drops the tensor."""
    if name in _TOP_LEVEL:
        return _TOP_LEVEL[name]
    layer = _LAYER.fullmatch(name)
    if not layer or layer[3] not in _MODULES:
        raise ModelImportError(f"unknown tensor {name}")
    module = _MODULES[layer[3]]
    # whisper's key projection has no bias; a per-query constant on every attention
    # logit cancels in the softmax, so dropping one is exact.
    if module.endswith(".key") and layer[4] == "bias":
        return None
    return f"{layer[1]}.blocks.{layer[2]}.{module}.{layer[4]}"


def load_huggingface(directory: Path) -> WhisperWeights:
    """Reads a transformers WhisperModel / WhisperForConditionalGeneration directory."""
    config = read_json_object(directory / "config.json")
    _check_config(config, directory)
    state_dict: dict[str, torch.Tensor] = {}
    projection: torch.Tensor | None = None
    for name, tensor in _read_weights(directory).items():
        bare = name.removeprefix("model.")
        if bare == _PROJECTION:
            projection = tensor
        elif (target := _rename(bare)) is not None:
            state_dict[target] = tensor
    if "decoder.token_embedding.weight" in state_dict:
        check_tied(state_dict["decoder.token_embedding.weight"], projection, str(directory))
    return WhisperWeights(
        state_dict=state_dict,
        n_audio_head=_head_count(config, "encoder_attention_heads"),
        n_text_head=_head_count(config, "decoder_attention_heads"),
        alignment_heads=_alignment_heads(directory),
    )
