"""Rules across settings: values that are valid each on its own but not together. Settings
(whisper_api.settings.declarations) applies them once its fields are read, and raises
SettingsError with the message. A rule names the settings it reads, as a Protocol of their
fields, so that it needs nothing else of Settings."""

from __future__ import annotations

from typing import Protocol

from decoder.wire.choices import AUTO_ENGINE


class EngineChoice(Protocol):
    """The engine and the settings that only one engine takes."""

    @property
    def engine(self) -> str: ...
    @property
    def compute_type(self) -> str: ...
    @property
    def vad_filter(self) -> bool: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def batch_files(self) -> int: ...


def engine_conflict(settings: EngineChoice) -> str | None:
    """Why a faster-whisper-only option does not go with ENGINE=openai-whisper; None if none."""
    return _faster_whisper_only(settings) if settings.engine == "openai-whisper" else None


def decoder_engine(settings: EngineChoice) -> str:
    """ENGINE as the decoders take it: with ENGINE=auto, an option that only faster-whisper has
    asks for faster-whisper; otherwise as set (with auto, the decoder chooses by its models)."""
    if settings.engine == AUTO_ENGINE and _faster_whisper_only(settings) is not None:
        return "faster-whisper"
    return settings.engine


def _faster_whisper_only(settings: EngineChoice) -> str | None:
    """Why the options ask for faster-whisper (the first that only it has); None if none does."""
    if settings.compute_type == "int8":
        return "COMPUTE_TYPE='int8' is not valid: openai-whisper has no int8; use ENGINE=faster-whisper"
    if settings.vad_filter:
        return "VAD_FILTER=1 is not valid: only ENGINE=faster-whisper filters by voice activity"
    for name, value in (("BATCH_SIZE", settings.batch_size), ("BATCH_FILES", settings.batch_files)):
        if value > 1:
            return f"{name}={value} is not valid: only ENGINE=faster-whisper decodes in batches"
    return None


class ClusterChoice(Protocol):
    """What the host does, where its uploads wait, and the database both may need."""

    @property
    def role(self) -> str: ...
    @property
    def media_store(self) -> str: ...
    @property
    def database_url(self) -> str | None: ...


def cluster_conflict(settings: ClusterChoice) -> str | None:
    """Why a host may not take its ROLE or MEDIA_STORE; None if it may."""
    if settings.database_url:
        return None
    if settings.role != "all":
        return (
            f"ROLE={settings.role!r} is not valid without DATABASE_URL: API hosts and workers meet only in "
            "a shared PostgreSQL queue"
        )
    if settings.media_store == "database":
        return "MEDIA_STORE='database' is not valid without DATABASE_URL: it names that PostgreSQL"
    return None
