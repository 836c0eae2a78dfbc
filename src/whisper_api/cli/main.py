"""The `whisper-api` command: `serve` (the default) runs the server, `transcribe` sends files to
one, `import-model` converts an offline model into MODEL_DIR, and `ensure-model` imports the
models that installed packages ship where MODEL_DIR lacks them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from whisper_api.cli.models import ensure_model, import_model
from whisper_api.cli.serve import serve
from whisper_api.cli.transcribe import add_transcribe_command, run_transcribe
from whisper_api.settings import SettingsError, load_settings


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
