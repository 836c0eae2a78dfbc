"""Rules across settings: values that are valid each on its own but not together. Settings
(whisper_api.settings) applies them once its fields are read, and raises SettingsError with
the message."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from whisper_api.settings import Settings


def engine_conflict(settings: Settings) -> str | None:
    """Why a faster-whisper-only option does not go with ENGINE=openai-whisper; None if none."""
    if settings.engine != "openai-whisper":
        return None
    if settings.compute_type == "int8":
        return "COMPUTE_TYPE='int8' is not valid: openai-whisper has no int8; use ENGINE=faster-whisper"
    if settings.vad_filter:
        return "VAD_FILTER=1 is not valid: only ENGINE=faster-whisper filters by voice activity"
    for name, value in (("BATCH_SIZE", settings.batch_size), ("BATCH_FILES", settings.batch_files)):
        if value > 1:
            return f"{name}={value} is not valid: only ENGINE=faster-whisper decodes in batches"
    return None
