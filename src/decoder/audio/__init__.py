"""Audio in the decoder: an upload decoded to 16 kHz samples with ffmpeg (ffmpeg), Whisper's
spectrogram of any length computed window by window (spectrogram), the stretches worth decoding
(silence) and the spans of speech (voice_activity), each over a stream."""
