"""Every model the server knows: the official Whisper names (decoder.wire.models), what MODEL_DIR
holds of each for either engine, and what this host's decoders hold loaded.

A model is a checkpoint `<stem>.pt` for openai-whisper and a CTranslate2 directory
`ctranslate2/<stem>/` for faster-whisper; aliases ("turbo", "large") share their files. Reading
the folder is a few stat calls, done for every listing, so the list is never stale.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from decoder.wire.choices import ENGINE_NAMES
from decoder.wire.models import MODELS, ct2_directory
from whisper_api.jobs.dispatch.pool import DecoderPool
from whisper_api.jobs.job import iso_time


def model_files(model_dir: Path, name: str) -> dict[str, Path]:
    """The files of the model in MODEL_DIR, by the engine that loads them (only those present)."""
    checkpoint = model_dir / MODELS[name].checkpoint_name
    ct2 = ct2_directory(model_dir, name)
    found = {ENGINE_NAMES[0]: checkpoint, ENGINE_NAMES[1]: ct2}
    present = {ENGINE_NAMES[0]: checkpoint.is_file(), ENGINE_NAMES[1]: (ct2 / "model.bin").is_file()}
    return {engine: path for engine, path in found.items() if present[engine]}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(each.stat().st_size for each in path.rglob("*") if each.is_file())


def delete_model_files(model_dir: Path, name: str) -> list[Path]:
    """Remove the model's files for both engines; those removed."""
    removed = list(model_files(model_dir, name).values())
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return removed


def catalog_json(model_dir: Path, pool: DecoderPool) -> list[dict[str, Any]]:
    """Each official model: its files and sizes, its languages, whether tasks may ask for it,
    which decoder holds it loaded, and when it was last used."""
    ready = pool.ready
    available = ready.available_models if ready else ()
    all_languages = [code for code, _ in ready.languages] if ready else []
    entries = []
    for name, info in MODELS.items():
        files = model_files(model_dir, name)
        loaded, used, failures = [], [], {}
        for slot in pool.slots:
            decoder = slot.decoder
            status = decoder.status
            for held in status.loaded_models if status else ():
                if held.model == name:
                    loaded.append({"decoder": slot.index, "device": held.device})
            if name in decoder.models_used_at:
                used.append(decoder.models_used_at[name])
            if name in decoder.model_failures:
                failures[str(slot.index)] = decoder.model_failures[name]
        entries.append(
            {
                "name": name,
                "english_only": info.english_only,
                "languages": ["en"] if info.english_only else all_languages,
                "files": {
                    engine: {"path": str(path), "bytes": _size(path)} for engine, path in files.items()
                },
                "size_bytes": sum(_size(path) for path in files.values()),
                "available": name in available,
                "loaded": loaded,
                "last_used_at": iso_time(max(used, default=None)),
                "load_errors": failures,
            }
        )
    return entries
