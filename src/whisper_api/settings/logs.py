"""The log settings: where the log file goes, how records look and rotate, and who may read the
logs. Settings (whisper_api.settings) takes them in; the table lists them last."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from whisper_api.settings.kinds import FLAG, LOG_FORMAT, folder, one_of, text, whole, word_list
from whisper_api.settings.rows import setting

DEFAULT_LOG_FORMAT = "[{asctime}] [{levelname}][{processName}][{threadName}][{module}.{funcName}] {message}"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ROTATION_WHEN = ("S", "M", "H", "D", "midnight", *(f"W{day}" for day in range(7)))


@dataclass(frozen=True)
class LogSettings:
    log_dir: Path = setting(
        "LOG_DIR",
        Path("data"),
        folder(blank="."),
        'folder for the log file (`""` = working directory)',
        shown="`data/`",
        blank_is_value=True,
    )
    log_file: str = setting("LOG_FILE", "whisper_api.log", text("file name"), "log file name")
    log_level_console: str = setting(
        "LOG_LEVEL_CONSOLE", "INFO", one_of(LOG_LEVELS, upper=True), "console log level"
    )
    log_level_file: str = setting(
        "LOG_LEVEL_FILE", "INFO", one_of(LOG_LEVELS, upper=True, values="as above"), "file log level"
    )
    log_format: str = setting("LOG_FORMAT", DEFAULT_LOG_FORMAT, LOG_FORMAT, "record format, `{`-style")
    log_date_format: str = setting(
        "LOG_DATE_FORMAT", "%d.%m. %H:%M:%S", text("strftime format"), "time format in records"
    )
    log_rotation_when: str = setting(
        "LOG_ROTATION_WHEN",
        "H",
        one_of(ROTATION_WHEN, values="`S` `M` `H` `D` `W0`\u2013`W6` `midnight`"),
        "rotation unit",
    )
    log_rotation_interval: int = setting("LOG_ROTATION_INTERVAL", 2, whole(1), "rotate every this many units")
    log_rotation_backup_count: int = setting("LOG_ROTATION_BACKUP_COUNT", 48, whole(0), "rotated files kept")
    log_privacy_mode: bool = setting(
        "LOG_PRIVACY_MODE", True, FLAG, "shorten task ids in logs to 8 characters"
    )
    log_authorized_mails: frozenset[str] = setting(
        "LOG_AUTHORIZED_MAILS",
        frozenset(),
        word_list(lower=True, semicolons=True),
        "mail addresses (comma-separated) allowed to download the logs",
    )

    @property
    def log_path(self) -> Path:
        return self.log_dir / self.log_file
