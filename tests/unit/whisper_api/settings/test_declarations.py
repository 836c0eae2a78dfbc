from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from whisper_api.settings import Settings, SettingsError
from whisper_api.settings.logs import DEFAULT_LOG_FORMAT


def test_defaults_match_the_seed() -> None:
    settings = Settings.from_environ({"XDG_CACHE_HOME": "/cache"})
    assert settings.port == 3001
    assert settings.listen == "127.0.0.1"
    assert settings.load_model_on_startup is True
    assert settings.develop_mode is False
    assert settings.unload_model_after_s is None
    assert settings.delete_results_after_m == 60
    assert settings.refresh_expiration_time_on_usage is True
    assert settings.run_result_expiry_check_m == 5
    assert settings.use_gpu_if_available is True
    assert settings.max_model is None
    assert settings.max_task_queue_size == 128
    assert settings.cpu_fallback_model == "medium"
    assert settings.log_path == Path("data/whisper_api.log")
    assert (settings.log_level_console, settings.log_level_file) == ("INFO", "INFO")
    assert settings.log_format == DEFAULT_LOG_FORMAT
    assert settings.log_date_format == "%d.%m. %H:%M:%S"
    assert (settings.log_rotation_when, settings.log_rotation_interval) == ("H", 2)
    assert settings.log_rotation_backup_count == 48
    assert settings.log_privacy_mode is True
    assert settings.log_authorized_mails == frozenset()
    assert settings.model_dir == Path("/cache/whisper")
    assert settings.data_dir == Path("data")
    assert settings.database_path == Path("data/jobs.sqlite3")
    assert settings.max_upload_mb == 1024
    assert settings.shutdown_grace_s == 30


def test_values_are_parsed() -> None:
    settings = Settings.from_environ(
        {
            "PORT": "8080",
            "LOAD_MODEL_ON_STARTUP": "0",
            "UNLOAD_MODEL_AFTER_S": "0",
            "MAX_MODEL": "large-v3-turbo",
            "LOG_LEVEL_FILE": "debug",
            "LOG_ROTATION_WHEN": "midnight",
            "LOG_DIR": "",
            "LOG_AUTHORIZED_MAILS": "Ada@Example.org, bob@example.org",
            "MODEL_DIR": "/models",
            "PRELOAD_MODELS": "base, tiny.en,base",
            "ADMIN_API_KEYS": "op-1,op-2",
            "HF_ENDPOINT": "http://mirror.internal:8080",
        }
    )
    assert settings.port == 8080
    assert settings.load_model_on_startup is False
    assert settings.unload_model_after_s == 0
    assert settings.max_model == "large-v3-turbo"
    assert settings.log_level_file == "DEBUG"
    assert settings.log_rotation_when == "midnight"
    assert settings.log_dir == Path(".")
    assert settings.log_authorized_mails == {"ada@example.org", "bob@example.org"}
    assert settings.model_dir == Path("/models")
    assert settings.preload_models == ("base", "tiny.en")
    assert settings.admin_api_keys == {"op-1", "op-2"} and settings.accepted_keys == frozenset()
    assert settings.hf_endpoint == "http://mirror.internal:8080"


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("PORT", "abc", "a whole number from 1 to 65535"),
        ("PORT", "70000", "a whole number from 1 to 65535"),
        ("MAX_MODEL", "huge", "an official model name"),
        ("CPU_FALLBACK_MODEL", "medium.de", "an official model name"),
        ("LOG_LEVEL_FILE", "LOUD", "one of DEBUG, INFO"),
        ("DEVELOP_MODE", "maybe", "1 (yes) or 0 (no)"),
        ("UNLOAD_MODEL_AFTER_S", "-1", "a whole number ≥ 0"),
        ("LOG_ROTATION_WHEN", "W7", "one of S, M, H"),
        ("LOG_FORMAT", "{nosuchfield}", "'{'-style logging format"),
        ("MAX_UPLOAD_MB", "0", "a whole number ≥ 1"),
        ("SHUTDOWN_GRACE_S", "soon", "a whole number ≥ 0"),
        ("ENGINE", "whisper.cpp", "one of auto, openai-whisper, faster-whisper"),
        ("COMPUTE_TYPE", "int4", "one of auto, int8, float16, float32"),
        ("VAD_FILTER", "sometimes", "1 (yes) or 0 (no)"),
        ("CPU_THREADS", "-2", "a whole number ≥ 0"),
        ("BATCH_SIZE", "0", "a whole number ≥ 1"),
        ("PRELOAD_MODELS", "tiny,huge", "an official model name"),
        ("HF_ENDPOINT", "huggingface.co", "http(s) URL"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, accepted: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_environ({name: value})
    message = str(caught.value)
    assert message.startswith(f"{name}={value!r} is not valid: expected ")
    assert accepted in message
    assert "\n" not in message


def test_bad_value_stops_start_up_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "whisper_api"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PORT": "abc", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "whisper-api: PORT='abc' is not valid: expected a whole number from 1 to 65535"
    ]


def test_dotenv_is_read_but_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MAX_MODEL=tiny.en\nPORT=4000\n")
    script = "from whisper_api.settings import load_settings; s = load_settings(); print(s.max_model, s.port)"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PORT": "5000", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == ["tiny.en", "5000"]


def test_engine_settings() -> None:
    default = Settings.from_environ({})
    assert (default.engine, default.compute_type, default.vad_filter) == ("auto", "auto", False)
    assert (default.cpu_threads, default.batch_size, default.batch_files) == (0, 1, 0)
    assert Settings.from_environ({"ENGINE": "faster-whisper", "BATCH_FILES": "16"}).batch_files == 16
    assert Settings.from_environ({"ENGINE": "faster-whisper", "BATCH_SIZE": "8"}).batch_size == 8
    assert Settings.from_environ({"CPU_THREADS": "1"}).cpu_threads == 1
    faster = Settings.from_environ({"ENGINE": "faster-whisper", "COMPUTE_TYPE": "int8", "VAD_FILTER": "1"})
    assert (faster.engine, faster.compute_type, faster.vad_filter) == ("faster-whisper", "int8", True)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"COMPUTE_TYPE": "int8"}, "openai-whisper has no int8"),
        ({"VAD_FILTER": "1"}, "only ENGINE=faster-whisper filters"),
        ({"BATCH_SIZE": "8"}, "only ENGINE=faster-whisper decodes in batches"),
        ({"BATCH_FILES": "8"}, "BATCH_FILES=8 is not valid: only ENGINE=faster-whisper"),
    ],
)
def test_faster_whisper_options_need_that_engine(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_environ({"ENGINE": "openai-whisper", **environ})
