"""Live speech: sessions that turn a stream of audio into turns, and turns into text, on the
same decoders as file jobs (whisper_api.jobs.dispatch.live_turns) and ahead of them. No Starlette here:
the OpenAI Realtime endpoint (whisper_api.api.routes.realtime) and the Wyoming server
(wyoming/) are two ways into the same LiveSession.

    formats.py     the audio formats a session takes (plain data)
    listening.py   the audio to 16 kHz frames with Silero's speech probability (numpy, lazily)
    events.py      what a session tells its client, as frozen records
    turns.py       turn detection over the frames: server VAD, or commits by the client
    session.py     LiveSession: turns to the decoders, partial text, limits, back-pressure
    sessions.py    the host's live sessions and their limits
    client_warnings.py  what clients sent wrong, logged a few lines a client at most
    wyoming/       Home Assistant's Wyoming protocol on WYOMING_PORT
"""
