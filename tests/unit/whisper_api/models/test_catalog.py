from __future__ import annotations

from pathlib import Path

from whisper_api.jobs.dispatch.pool import DecoderPool
from whisper_api.models.catalog import catalog_json, delete_model_files, model_files


def test_files_are_found_per_engine_and_aliases_share_them(tmp_path: Path) -> None:
    (tmp_path / "large-v3-turbo.pt").write_bytes(b"x" * 10)
    ct2 = tmp_path / "ctranslate2" / "large-v3-turbo"
    ct2.mkdir(parents=True)
    (ct2 / "model.bin").write_bytes(b"y" * 5)
    (ct2 / "config.json").write_text("{}")
    assert model_files(tmp_path, "turbo") == {
        "openai-whisper": tmp_path / "large-v3-turbo.pt",
        "faster-whisper": ct2,
    }
    # A CTranslate2 directory without its weights is no model.
    (tmp_path / "ctranslate2" / "base").mkdir()
    assert model_files(tmp_path, "base") == {}
    listed = {entry["name"]: entry for entry in catalog_json(tmp_path, DecoderPool([]))}
    assert listed["turbo"]["size_bytes"] == 17 and listed["turbo"]["loaded"] == []
    assert not listed["turbo"]["available"]  # no decoder has announced what it offers
    assert listed["tiny.en"]["languages"] == ["en"] and listed["tiny.en"]["files"] == {}
    assert delete_model_files(tmp_path, "large-v3-turbo") == [tmp_path / "large-v3-turbo.pt", ct2]
    assert model_files(tmp_path, "turbo") == {} and (tmp_path / "ctranslate2" / "base").is_dir()
