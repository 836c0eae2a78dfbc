from __future__ import annotations

import logging
from pathlib import Path

from whisper_api.logs import LogPipeline, TaskIdShortener
from whisper_api.settings import Settings

TASK_ID = "0123456789abcdef0123456789abcdef"


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.makeLogRecord({"msg": message, "args": args, "levelno": logging.INFO})


def test_task_ids_are_shortened() -> None:
    entry = record("decoding task %s (%s)", TASK_ID, "transcribe")
    assert TaskIdShortener().filter(entry)
    assert entry.getMessage() == "decoding task 01234567… (transcribe)"


def test_other_text_is_left_alone() -> None:
    entry = record("loaded model %s in %.1f s", "tiny.en", 0.25)
    TaskIdShortener().filter(entry)
    assert entry.getMessage() == "loaded model tiny.en in 0.2 s"


def log_through_pipeline(settings: Settings) -> str:
    """Log one line about TASK_ID through a real pipeline; returns the log file's text."""
    pipeline = LogPipeline(settings)
    pipeline.start()
    try:
        logging.getLogger("test").info("task %s finished", TASK_ID)
    finally:
        pipeline.stop()
        logging.getLogger().handlers.clear()
    return settings.log_path.read_text()


def test_pipeline_writes_the_file_with_privacy(tmp_path: Path) -> None:
    text = log_through_pipeline(Settings(log_dir=tmp_path, log_level_console="CRITICAL"))
    assert "task 01234567… finished" in text
    assert TASK_ID not in text


def test_privacy_mode_off_keeps_ids(tmp_path: Path) -> None:
    settings = Settings(log_dir=tmp_path, log_level_console="CRITICAL", log_privacy_mode=False)
    assert f"task {TASK_ID} finished" in log_through_pipeline(settings)
