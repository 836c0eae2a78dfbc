"""Rules across settings: faster-whisper-only options with each engine."""

from __future__ import annotations

from whisper_api.settings import Settings
from whisper_api.settings.rules import engine_conflict


def test_faster_whisper_options_conflict_only_with_openai_whisper() -> None:
    options = {"COMPUTE_TYPE": "int8", "VAD_FILTER": "1", "BATCH_SIZE": "8", "BATCH_FILES": "8"}
    assert engine_conflict(Settings.from_environ({"ENGINE": "faster-whisper", **options})) is None
    assert engine_conflict(Settings.from_environ({})) is None
