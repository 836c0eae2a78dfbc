"""Settings: every setting of the server, declared once as a field with its row
(whisper_api.settings.rows), and read from the environment after `.env`.

Names, meanings and defaults follow the seed's settings table. A bad value raises
SettingsError with one line naming the variable and what it accepts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from dotenv import find_dotenv, load_dotenv

from decoder.wire.choices import AUTO_ENGINE, COMPUTE_TYPES, ENGINE_NAMES, STAND_IN_ENGINE
from decoder.wire.protocol import BATCH_FILE_MAX_S, GPU_BATCH_FILES, WHISPER_WINDOW_S
from decoder.wire.speaker_files import DEFAULT_SPEAKER_ENCODER, ENCODER_NAME
from whisper_api.settings.access import AccessSettings
from whisper_api.settings.cluster import ClusterSettings
from whisper_api.settings.kinds import (
    FLAG,
    MODEL,
    MODELS_LIST,
    IPNetwork,
    folder,
    matching,
    networks,
    one_of,
    text,
    whole,
    word_list,
)
from whisper_api.settings.logs import LogSettings
from whisper_api.settings.rows import Setting, setting
from whisper_api.settings.rules import cluster_conflict, engine_conflict


class SettingsError(Exception):
    """A setting has a value the server cannot use; the message is one line for the operator."""


def _cache_model_dir(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "whisper"


@dataclass(frozen=True)
class Settings(AccessSettings, ClusterSettings, LogSettings):
    port: int = setting("PORT", 3001, whole(1, 65535), "port to serve on")
    listen: str = setting("LISTEN", "127.0.0.1", text("IP address or host name"), "address to serve on")
    load_model_on_startup: bool = setting(
        "LOAD_MODEL_ON_STARTUP", True, FLAG, "load the model at start rather than at the first task"
    )
    develop_mode: bool = setting("DEVELOP_MODE", False, FLAG, "use the smallest model")
    unload_model_after_s: int | None = setting(
        "UNLOAD_MODEL_AFTER_S",
        None,
        whole(0),
        (
            "unload a model after this many seconds unused (each loaded model on its own clock); `0` "
            "unloads as soon as the queue is empty"
        ),
        values="whole number ≥ 0, or unset (never)",
    )
    preload_models: tuple[str, ...] = setting(
        "PRELOAD_MODELS",
        (),
        MODELS_LIST,
        (
            "models every decoder loads at start beside its own, for tasks that ask for them by name "
            "(each must be in `MODEL_DIR` and no larger than `MAX_MODEL`); they unload as any model does"
        ),
        shown="empty",
    )
    delete_results_after_m: int = setting(
        "DELETE_RESULTS_AFTER_M", 60, whole(0), "minutes a finished or failed result is kept"
    )
    refresh_expiration_time_on_usage: bool = setting(
        "REFRESH_EXPIRATION_TIME_ON_USAGE", True, FLAG, "reading a result restarts its lifetime"
    )
    run_result_expiry_check_m: int = setting(
        "RUN_RESULT_EXPIRY_CHECK_M",
        5,
        whole(0),
        "minutes between sweeps for expired results; `0` only expires a result when it is read",
    )
    use_gpu_if_available: bool = setting("USE_GPU_IF_AVAILABLE", True, FLAG, "use CUDA when present")
    decoders: int = setting(
        "DECODERS",
        0,
        whole(0),
        (
            "decoder processes this host runs, each taking the next task when it is free; `0` is one per "
            "visible CUDA GPU (each sees only its own), and on a host without one as many as its CPUs "
            "hold at `CPU_THREADS` each (one where that is every CPU)"
        ),
    )
    max_model: str | None = setting(
        "MAX_MODEL", None, MODEL, "largest model to use", shown="unset (best possible)"
    )
    max_task_queue_size: int = setting(
        "MAX_TASK_QUEUE_SIZE",
        128,
        whole(1),
        "tasks allowed to wait, uploads still arriving counted in, before uploads get 429",
    )
    max_concurrent_uploads: int = setting(
        "MAX_CONCURRENT_UPLOADS", 16, whole(1), "upload bodies read at the same time; more get 429 at once"
    )
    deduplicate_uploads: bool = setting(
        "DEDUPLICATE_UPLOADS",
        True,
        FLAG,
        "answer an upload of the same bytes and request as an earlier one of the same owner (waiting, "
        "decoding or kept) with that task instead of decoding it again",
    )
    upload_timeout_s: int = setting(
        "UPLOAD_TIMEOUT_S",
        30,
        whole(1),
        "the longest pause in an upload's body, and the time before its rate counts; slower uploads get 408",
    )
    min_upload_kib_per_s: int = setting(
        "MIN_UPLOAD_KIB_PER_S",
        4,
        whole(0),
        "the lowest average rate of an upload once `UPLOAD_TIMEOUT_S` have passed; `0` allows any",
    )
    ffmpeg_timeout_s: int = setting(
        "FFMPEG_TIMEOUT_S",
        600,
        whole(1),
        "the longest one pass through an upload's audio may take in the decoder (the name is "
        "from when an ffmpeg program decoded it)",
    )
    decoder_watchdog_s: int = setting(
        "DECODER_WATCHDOG_S",
        60,
        whole(2),
        (
            "a decoder that leaves a ping unanswered this long while it has work is killed and restarted "
            "(half of it: `/readyz` says not ready)"
        ),
    )
    cpu_fallback_model: str = setting(
        "CPU_FALLBACK_MODEL", "medium", MODEL, "CPU model when `MAX_MODEL` is unset"
    )
    callback_allowed_hosts: frozenset[str] = setting(
        "CALLBACK_ALLOWED_HOSTS",
        frozenset(),
        word_list(lower=True),
        "hosts that `callback_url` may point at (comma-separated; `.example.org` allows subdomains)",
        shown="empty (any public host)",
    )
    callback_allowed_networks: tuple[IPNetwork, ...] = setting(
        "CALLBACK_ALLOWED_NETWORKS",
        (),
        networks("list of networks"),
        (
            "internal networks callbacks may reach (comma-separated, e.g. `10.0.0.0/8`); every loopback, "
            "private, link-local and other non-public address is refused otherwise, checked again when each "
            "callback connects"
        ),
        shown="empty (public addresses only)",
    )
    max_upload_mb: int = setting(
        "MAX_UPLOAD_MB",
        1024,
        whole(1),
        "largest upload accepted; a larger one is refused with 413 while it streams",
    )
    max_audio_duration_s: int = setting(
        "MAX_AUDIO_DURATION_S",
        12 * 3600,
        whole(0),
        (
            "longest audio accepted, in seconds; a longer upload is refused with 413 once it is checked, and "
            "a task whose audio turns out longer than its header said fails; `0`: no limit"
        ),
    )
    shutdown_grace_s: int = setting(
        "SHUTDOWN_GRACE_S",
        30,
        whole(0),
        (
            "on SIGTERM/SIGINT, how long the task being decoded may take to finish before the decoder is "
            "stopped (the task then runs again after the restart)"
        ),
    )
    model_dir: Path = setting(
        "MODEL_DIR",
        _cache_model_dir(os.environ),
        folder(),
        "where models are looked for, imported and downloaded",
        shown="`$XDG_CACHE_HOME/whisper` (`~/.cache/whisper`)",
        default_from=_cache_model_dir,
    )
    hf_endpoint: str = setting(
        "HF_ENDPOINT",
        "https://huggingface.co",
        matching(re.compile(r"^https?://\S+$"), "http(s) URL"),
        "the Hugging Face hub that a model import from `hf:<owner>/<repo>` downloads from (a mirror)",
    )
    engine: str = setting(
        "ENGINE",
        AUTO_ENGINE,
        one_of(
            (AUTO_ENGINE, *ENGINE_NAMES, STAND_IN_ENGINE),
            values=" / ".join(f"`{name}`" for name in (AUTO_ENGINE, *ENGINE_NAMES, STAND_IN_ENGINE)),
        ),
        (
            "speech-recognition engine: `openai-whisper` (torch) or `faster-whisper` (CTranslate2, about 3x "
            "faster on a CPU; loads `MODEL_DIR/ctranslate2/NAME/` and downloads nothing); `auto` is "
            "faster-whisper where `MODEL_DIR` holds a CTranslate2 copy of the model to load (`make install` "
            "imports them), or where an option only faster-whisper has is set, and openai-whisper otherwise; "
            f"`{STAND_IN_ENGINE}` is for the cluster benchmark only: it decodes nothing, returns empty "
            "transcripts"
        ),
    )
    compute_type: str = setting(
        "COMPUTE_TYPE",
        "auto",
        one_of(COMPUTE_TYPES, values="`auto` `int8` (faster-whisper only) `float16` `float32`"),
        (
            "numbers the engine computes with; `auto` is float16 on a GPU, and on a CPU float32 for "
            "openai-whisper and int8 for faster-whisper"
        ),
    )
    vad_filter: bool = setting(
        "VAD_FILTER",
        False,
        FLAG,
        "faster-whisper only: skip stretches without speech (Silero VAD) before decoding",
    )
    speaker_encoder: str = setting(
        "SPEAKER_ENCODER",
        DEFAULT_SPEAKER_ENCODER,
        matching(ENCODER_NAME, "a name: letters, digits, `.`, `_`, `-`"),
        (
            f"the voice encoder that labels speakers (`diarize`): `{DEFAULT_SPEAKER_ENCODER}` (installed by "
            "`make install`), or the NAME of an ONNX one imported with `whisper-api import-model FILE.onnx "
            "--name NAME` (see docs/api.md)"
        ),
    )
    cpu_threads: int = setting(
        "CPU_THREADS",
        0,
        whole(0),
        (
            "threads one decoding uses on a CPU; `0`: with `DECODERS=0` on a host without a GPU, the "
            "threads per decoder that `make bench` found to do the most work for the engine and model, "
            'where it has measured them (small models: see "Threads per decoder" in '
            "[docs/benchmarks.md](docs/benchmarks.md)); otherwise every CPU the decoders may run on (the "
            "affinity mask, not the host's count), shared out equally among the host's `DECODERS`"
        ),
    )
    batch_size: int = setting(
        "BATCH_SIZE",
        1,
        whole(1),
        (
            "faster-whisper only: above `1`, its batched pipeline decodes this many of a file's chunks at "
            "once. The chunks are cut at pauses found by VAD and decoded without the previous chunk's text "
            "as context, so results differ a little; faster on a GPU, and on a CPU too (see "
            "[docs/benchmarks.md](docs/benchmarks.md))"
        ),
    )
    batch_files: int = setting(
        "BATCH_FILES",
        0,
        whole(0),
        (
            "faster-whisper only: decode up to this many waiting short files (each at most "
            f"{BATCH_FILE_MAX_S:g} s, with the same task, language and options, in upload order) in one "
            f"batch; `1`: one at a time; `0`: {GPU_BATCH_FILES} on a GPU, 1 on a CPU. Each file keeps its "
            "own result and failure; see [docs/benchmarks.md](docs/benchmarks.md)"
        ),
    )
    live_max_sessions: int = setting(
        "LIVE_MAX_SESSIONS",
        8,
        whole(0),
        (
            "live sessions (`/v1/realtime`, Wyoming) served at once; one more gets an error and is closed; "
            "`0`: no live sessions"
        ),
    )
    live_max_turn_s: int = setting(
        "LIVE_MAX_TURN_S",
        int(WHISPER_WINDOW_S),
        whole(1, int(WHISPER_WINDOW_S)),
        "a live turn still spoken after this many seconds is committed there and a new one begins",
    )
    live_idle_timeout_s: int = setting(
        "LIVE_IDLE_TIMEOUT_S",
        60,
        whole(1),
        "a live session that sends nothing for this many seconds gets an error and is closed",
    )
    wyoming_port: int | None = setting(
        "WYOMING_PORT",
        None,
        whole(1, 65535),
        (
            "serve Home Assistant's Wyoming protocol (speech to text) on this TCP port, on the `LISTEN` "
            "address; its turns are live turns"
        ),
        values="port, or unset (off)",
    )
    data_dir: Path = setting(
        "DATA_DIR",
        Path("data"),
        folder(),
        (
            "the job database (`jobs.sqlite3`, without `DATABASE_URL`) and the uploads waiting for the "
            "decoder; hosts sharing one PostgreSQL must share this folder too"
        ),
    )

    @property
    def stop_grace_s(self) -> int:
        """How long the tasks in hand may take to finish when the server stops."""
        if self.database_url and self.drain_s is not None:
            return self.drain_s
        return self.shutdown_grace_s

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {}
        for name, row in rows():
            raw = environ.get(row.variable)
            if raw is None or (raw.strip() == "" and not row.blank_is_value):
                if row.default_from is not None:
                    values[name] = row.default_from(environ)
                continue
            try:
                values[name] = row.kind.parse(raw.strip())
            except ValueError as exc:
                raise SettingsError(f"{row.variable}={raw!r} is not valid: expected {exc}") from None
        settings = cls(**values)
        for conflict in (engine_conflict(settings), cluster_conflict(settings)):
            if conflict is not None:
                raise SettingsError(conflict)
        return settings


def rows() -> Iterator[tuple[str, Setting[Any]]]:
    """(field name, row) of every setting, in the configuration table's order: the host's own,
    then who may do what, then those of several hosts, then the log settings last, as in the
    seed's table (a base class's fields would otherwise come first)."""
    place = {
        each.name: rank
        for rank, group in enumerate((AccessSettings, ClusterSettings, LogSettings), 1)
        for each in fields(group)
    }
    ordered = sorted(fields(Settings), key=lambda each: place.get(each.name, 0))
    for each in ordered:
        yield each.name, each.metadata["setting"]


def load_settings() -> Settings:
    """Settings from the process environment, after a `.env` found from the working directory.

    Variables already set in the environment win over `.env`, as python-dotenv does by default.
    """
    load_dotenv(find_dotenv(usecwd=True))
    return Settings.from_environ(os.environ)
