"""Checks an upload with ffmpeg's libraries before it is queued, so that bad files fail at once with 400.

The check reads the file in the checker's own process (PyAV), in three steps, each as quick for
an hour of audio as for a minute:

1. Opening the container: it fails on files that are not media at all, and on MP4/MOV files
   cut off before their index (the "moov atom", which most encoders write last). Only the
   accepted demuxers may open it, and only as a plain file (decoder.wire.containers).
2. Decoding the first 40 s of the first audio track, stopping at the first error: this catches
   a valid header followed by damaged data, which opening alone accepts.
3. Where the audio is longer than that, decoding the last few seconds before the end the header
   declares, again stopping at the first error: it finds no audio there, or a short last
   packet, when the data stops short of that end, as in an MP3 (with a duration header), FLAC,
   WebM or MP4 file cut off mid-way. A shorter file was decoded to its end in step 2, and its
   decoded length tells the same.

What such a check cannot tell from a good file is accepted, since whisper decodes whatever is
there: a WAV, Ogg, or MP3 file without a duration header cut off mid-way (a WAV header written
before its length was known looks just the same), damage in the middle of a long file, and random
bytes after a WAV header (they decode as noise).

A refusal's reason is a sentence for the client; the libraries' own words, which name their
internals, travel beside it for the server's log.
"""

from __future__ import annotations

import os

import av
import av.logging
from av.audio.stream import AudioStream
from av.container import InputContainer

from decoder.errors import UploadRefusal
from decoder.wire.containers import OPEN_OPTIONS, demuxer_of
from decoder.wire.helper_pipes import UploadChecked

# Long enough to hold several packets of any codec, short enough to decode in milliseconds.
CHECK_SECONDS = 5.0
# The first step decodes this much: all of a short clip, so that it needs no seek to the end.
HEAD_SECONDS = 40.0
# What the libraries log where a file's format is not among those accepted, and where an
# MP4/MOV file has no index.
_NOT_ACCEPTED_MARKER = "Format not on whitelist"
_NO_MOOV_MARKER = "moov atom not found"
# What the libraries log where a packet is shorter than the header promised: the data ends too early.
_SHORT_PACKET_MARKER = "partial file"
# What they log where the header does not know the length and it is guessed from the bit rate.
_ESTIMATED_MARKER = "Estimating duration from bitrate"

REFUSED_FORMAT = (
    "the file is not an audio or video file in a format this server accepts (playlists such as "
    "HLS/m3u8, concat scripts and other formats that refer to other files or URLs are refused)"
)
UNREADABLE = (
    "the file is not an audio or video file that ffmpeg can read "
    "(an unknown or unsupported format, or damaged data)"
)
NO_MOOV = (
    "the file is incomplete: its MP4/MOV index (moov atom) is missing, as when a "
    "recording or upload is cut off"
)
DAMAGED = "the audio is damaged and cannot be decoded: its data is corrupt or breaks off"
SHORT_DATA = "the file is cut off: its data ends before the length its header declares"


def check_upload(path: str) -> UploadChecked:
    """The duration and format of a readable file with an audio track; raises UploadRefusal.

    The libraries' log must reach Python (av.logging.set_level), repeated messages included
    (av.logging.set_skip_repeated), where this thread's share of it is read.
    """
    if os.stat(path).st_size == 0:
        raise UploadRefusal("the file is empty")
    with av.logging.Capture(local=True) as said:
        try:
            container = av.open(f"file:{path}", container_options=dict(OPEN_OPTIONS))
        except av.error.FFmpegError as exc:
            words = _words(said, path)
            if _NOT_ACCEPTED_MARKER in words:
                raise UploadRefusal(REFUSED_FORMAT, words) from exc
            if _NO_MOOV_MARKER in words:
                raise UploadRefusal(NO_MOOV, words) from exc
            raise UploadRefusal(UNREADABLE, words) from exc
        with container:
            # Where the duration is only guessed from the bit rate, the header does not know how
            # long the audio is (an MP3 without a duration header, a WAV written to a pipe or cut
            # off): the guess may lie past the real end, so only damage counts there, not an early end.
            length_known = not any(_ESTIMATED_MARKER in message for _, _, message in said)
            return _checked(container, path, length_known, said)


def _checked(
    container: InputContainer, path: str, length_known: bool, said: list[tuple[int, str, str]]
) -> UploadChecked:
    demuxer = demuxer_of(container.format.name)
    if demuxer is None:
        raise UploadRefusal(REFUSED_FORMAT)
    audio = next(iter(container.streams.audio), None)
    if audio is None:
        raise UploadRefusal("the file has no audio track")
    file_duration = container.duration / av.time_base if container.duration is not None else None
    duration = float(audio.duration * audio.time_base) if audio.duration and audio.time_base else None
    if duration is None and len(container.streams) == 1:
        # Matroska and WebM keep the duration only for the whole file; with a single stream it is
        # the audio's own. With other streams it may be a longer video's, so it is not used.
        duration = file_duration
    head_s = _decoded_s(container, audio, 0.0, HEAD_SECONDS, length_known, path, said)
    if not head_s:
        raise UploadRefusal("the audio track holds no audio that can be decoded")
    if duration is not None and duration > HEAD_SECONDS:
        start = duration - CHECK_SECONDS
        reaches_end = bool(_decoded_s(container, audio, start, CHECK_SECONDS, length_known, path, said))
    else:
        # The first step decoded all of it: its length shows where the data ends.
        reaches_end = duration is None or head_s > duration - CHECK_SECONDS
    if not reaches_end and length_known:
        raise UploadRefusal(
            f"the file is cut off: it declares {duration:.1f} s of audio, but its data ends "
            f"more than {CHECK_SECONDS:g} s before that"
        )
    return UploadChecked(duration if duration is not None else file_duration, demuxer, audio.channels or 1)


def _decoded_s(
    container: InputContainer,
    stream: AudioStream,
    start: float,
    seconds: float,
    length_known: bool,
    path: str,
    said: list[tuple[int, str, str]],
) -> float:
    """The seconds of audio decoded from `start` on, up to `seconds`.

    Raises UploadRefusal at the first decoding error, and at a short last packet where the header
    promised more data.
    """
    if start > 0:
        assert stream.time_base is not None
        try:
            container.seek(int(start / stream.time_base), stream=stream)
        except av.error.FFmpegError:
            # A file that cannot seek is not judged by its end (the ffmpeg program, failing
            # the same seek, went on from where it was).
            return seconds
    end = start + seconds
    decoded = 0.0
    first_said = len(said)
    # A packet the demuxer marks as corrupt: the data ended before it was whole.
    short = False
    try:
        for packet in container.demux(stream):
            if packet.is_corrupt:
                short = True
                break
            for frame in packet.decode():
                length = frame.samples / frame.sample_rate
                at = frame.time if frame.time is not None else start + decoded
                decoded += max(0.0, min(at + length, end) - max(at, start))
                if decoded >= seconds:
                    return decoded
    except av.error.FFmpegError as exc:
        words = _words(said[first_said:], path)
        if not any(_SHORT_PACKET_MARKER in message for _, _, message in said[first_said:]):
            raise UploadRefusal(DAMAGED, words) from exc
        if length_known:
            raise UploadRefusal(SHORT_DATA, words) from exc
    if short and length_known:
        raise UploadRefusal(SHORT_DATA)
    # A short last packet where the length was only guessed: whatever decoded counts.
    return decoded


def _words(said: list[tuple[int, str, str]], path: str) -> str:
    """The libraries' first error, without the server-side path."""
    for level, name, message in said:
        if level <= av.logging.ERROR and message.strip():
            words = f"[{name}] {message.strip()}"
            return words.replace(f"file:{path}", "the upload").replace(path, "the upload")
    return "ffmpeg gave no reason"
