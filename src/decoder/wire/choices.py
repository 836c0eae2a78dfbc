"""The names the decoder takes for its engine and the numbers it computes with, which the
front end's settings check (ENGINE, COMPUTE_TYPE)."""

ENGINE_NAMES = ("openai-whisper", "faster-whisper")
# The default: faster-whisper where MODEL_DIR holds a CTranslate2 copy of the model the decoder
# plans to load first, openai-whisper otherwise (decoder.engines.choose_engine).
AUTO_ENGINE = "auto"
# Benchmarks only (bench/cluster.py): decodes nothing, and every transcript it returns is empty.
STAND_IN_ENGINE = "bench-stand-in"
COMPUTE_TYPES = ("auto", "int8", "float16", "float32")
