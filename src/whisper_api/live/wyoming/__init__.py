"""Home Assistant's Wyoming protocol (speech to text) on WYOMING_PORT: Home Assistant's Wyoming
integration uses the server as its speech-to-text service.

    framing.py   Wyoming's messages read within limits, and written within a time limit
    handler.py   one connection's events: describe, transcribe, and audio to a transcript
    server.py    the TCP server: its connections, each held to the live limits

The protocol has no keys: it listens on the LISTEN address only, like Home Assistant's own
add-ons, and its size, rate, connection and idle limits are its protection.
"""

from whisper_api.live.wyoming.server import WyomingService

__all__ = ["WyomingService"]
