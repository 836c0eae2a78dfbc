"""Checks an upload with ffprobe before it is queued, so that bad files fail at once with 400."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ffmpeg


class NotAudioError(Exception):
    """The file is not media ffprobe can read, or it has no audio track."""


def probe_audio(path: Path) -> float | None:
    """The duration in seconds of a readable file with an audio track (None where unknown).

    Blocking (it runs ffprobe): call it from a worker thread.
    """
    try:
        info: dict[str, Any] = ffmpeg.probe(str(path))
    except ffmpeg.Error as exc:
        raise NotAudioError("the file is not an audio or video file that ffmpeg can read") from exc
    if not any(stream.get("codec_type") == "audio" for stream in info.get("streams", ())):
        raise NotAudioError("the file has no audio track")
    duration = info.get("format", {}).get("duration")
    try:
        return float(duration) if duration is not None else None
    except ValueError:
        return None
