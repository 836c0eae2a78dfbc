"""SubRip (.srt) subtitles from transcript segments."""

from __future__ import annotations

from collections.abc import Iterable

from decoder.protocol import Segment


def srt_timestamp(seconds: float) -> str:
    milliseconds = max(0, round(seconds * 1000))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def format_srt(segments: Iterable[Segment]) -> str:
    blocks = []
    for number, (start, end, text) in enumerate(segments, start=1):
        # A cue arrow inside the text would start a new cue in some players.
        clean = text.strip().replace("-->", "->")
        blocks.append(f"{number}\n{srt_timestamp(start)} --> {srt_timestamp(end)}\n{clean}\n")
    return "\n".join(blocks)
