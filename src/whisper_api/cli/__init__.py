"""The `whisper-api` command (main) and its subcommands: serve, the model imports (models), and
transcribe, a client of any whisper-api server (transcribe reads its command line, batch does
the uploading, following and writing)."""
