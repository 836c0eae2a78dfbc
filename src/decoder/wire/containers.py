"""The container formats whisper-api decodes, and the options that hold ffmpeg's libraries to them.

An upload is decoded only from the bytes it holds. ffmpeg's libraries detect formats by content,
and some of the formats they know read other files or URLs: an HLS playlist (`.m3u8`) whose
segment line is a path on the server, a concat script, SDP and RTP descriptions, image
sequences. So every opening of an upload (PyAV's `av.open`, in the upload checker and in the
decoder) names the accepted demuxers (`format_whitelist`), lets the input open nothing but a
plain file (`protocol_whitelist`), and, once the upload check has found the format, decodes with
that format pinned. This module is plain data, read by both.
"""

from __future__ import annotations

# ffmpeg demuxer names of audio and video containers that hold their media themselves. Formats
# that refer to other files or URLs (hls, dash, concat, sdp, rtp, rtsp, image2, imf, ...) are
# missing on purpose; so are raw streams that any file could be mistaken for.
ACCEPTED_DEMUXERS = (
    "aac",
    "ac3",
    "aiff",
    "amr",
    "ape",
    "asf",
    "au",
    "avi",
    "caf",
    "dsf",
    "dts",
    "dtshd",
    "eac3",
    "flac",
    "flv",
    "gsm",
    "loas",
    "matroska",
    "mlp",
    "mov",
    "mp3",
    "mpc",
    "mpc8",
    "mpeg",
    "mpegts",
    "nistsphere",
    "nut",
    "ogg",
    "oma",
    "rm",
    "shn",
    "tak",
    "truehd",
    "tta",
    "voc",
    "w64",
    "wav",
    "wv",
    "xwma",
)


def demuxer_of(format_name: str) -> str | None:
    """The accepted demuxer for the libraries' format name ("mov,mp4,m4a,3gp,3g2,mj2" is "mov"),
    or None where the format is not accepted."""
    first = format_name.split(",")[0].strip()
    return first if first in ACCEPTED_DEMUXERS else None


# The options of PyAV's `av.open` (its `container_options`) that open an upload.
OPEN_OPTIONS = {"protocol_whitelist": "file", "format_whitelist": ",".join(ACCEPTED_DEMUXERS)}
