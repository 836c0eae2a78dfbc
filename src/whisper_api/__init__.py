"""whisper-api: the HTTP front end of a self-hosted Whisper speech-to-text server.

This package never imports torch or whisper; the model lives in the `decoder` process.
"""

__version__ = "0.1.0"
