"""Rules across settings: faster-whisper-only options with each engine, and the roles of hosts
that share a queue."""

from __future__ import annotations

import pytest

from whisper_api.settings import Settings, SettingsError
from whisper_api.settings.rules import cluster_conflict, decoder_engine, engine_conflict

FASTER_WHISPER_ONLY = {"COMPUTE_TYPE": "int8", "VAD_FILTER": "1", "BATCH_SIZE": "8", "BATCH_FILES": "8"}


def test_faster_whisper_options_conflict_only_with_openai_whisper() -> None:
    assert engine_conflict(Settings.from_environ({"ENGINE": "faster-whisper", **FASTER_WHISPER_ONLY})) is None
    assert engine_conflict(Settings.from_environ(FASTER_WHISPER_ONLY)) is None
    assert engine_conflict(Settings.from_environ({"ENGINE": "openai-whisper"})) is None


@pytest.mark.parametrize(("name", "value"), FASTER_WHISPER_ONLY.items())
def test_auto_with_an_option_only_faster_whisper_has_is_faster_whisper(name: str, value: str) -> None:
    assert decoder_engine(Settings.from_environ({name: value})) == "faster-whisper"


def test_otherwise_the_decoder_takes_engine_as_set() -> None:
    for engine in ("auto", "openai-whisper", "faster-whisper"):
        assert decoder_engine(Settings.from_environ({"ENGINE": engine})) == engine


def test_api_hosts_and_workers_need_a_shared_queue() -> None:
    url = {"DATABASE_URL": "postgresql://whisper@db/whisper"}
    for role in ("api", "worker"):
        with pytest.raises(SettingsError, match=f"ROLE='{role}' is not valid without DATABASE_URL"):
            Settings.from_environ({"ROLE": role})
        assert cluster_conflict(Settings.from_environ({"ROLE": role, **url})) is None
    assert cluster_conflict(Settings.from_environ({})) is None


def test_a_worker_drains_for_drain_s_and_a_host_of_its_own_for_shutdown_grace_s() -> None:
    url = {"DATABASE_URL": "postgresql://whisper@db/whisper"}
    assert Settings.from_environ({"DRAIN_S": "600", "SHUTDOWN_GRACE_S": "20", **url}).stop_grace_s == 600
    assert Settings.from_environ({"SHUTDOWN_GRACE_S": "20", **url}).stop_grace_s == 20
    assert Settings.from_environ({"DRAIN_S": "600", "SHUTDOWN_GRACE_S": "20"}).stop_grace_s == 20


def test_uploads_in_the_database_need_one() -> None:
    with pytest.raises(SettingsError, match="MEDIA_STORE='database' is not valid without DATABASE_URL"):
        Settings.from_environ({"MEDIA_STORE": "database"})
    url = {"DATABASE_URL": "postgresql://whisper@db/whisper"}
    assert cluster_conflict(Settings.from_environ({"MEDIA_STORE": "database", **url})) is None
