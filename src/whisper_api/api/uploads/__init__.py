"""Uploads: a multipart body streamed to disk within its limits (receiving), the form it holds
(form), and raw PCM stored as WAV (wav)."""
