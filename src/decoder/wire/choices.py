"""The names the decoder takes for its engine and the numbers it computes with, which the
front end's settings check (ENGINE, COMPUTE_TYPE)."""

ENGINE_NAMES = ("openai-whisper", "faster-whisper")
COMPUTE_TYPES = ("auto", "int8", "float16", "float32")
