"""The audio formats a live session takes, as plain data (no numpy: the routes read them)."""

from __future__ import annotations

from dataclasses import dataclass

# What the decoders hear: 16 kHz mono.
SAMPLE_RATE = 16_000
# The rates a live session takes, from a telephone's to a studio's.
MIN_RATE = 8_000
MAX_RATE = 48_000


@dataclass(frozen=True)
class AudioFormat:
    # "pcm16" (signed, little-endian), "mulaw" or "alaw" (G.711, a byte a sample)
    encoding: str
    rate: int

    @property
    def bytes_per_second(self) -> int:
        return self.rate * (2 if self.encoding == "pcm16" else 1)


# OpenAI's Realtime formats: PCM16 at 24 kHz, and G.711 at 8 kHz as telephones send it.
OPENAI_FORMATS = {
    "audio/pcm": AudioFormat("pcm16", 24_000),
    "audio/pcmu": AudioFormat("mulaw", 8_000),
    "audio/pcma": AudioFormat("alaw", 8_000),
}
