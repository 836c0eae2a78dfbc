"""Decoding an upload to the 16 kHz mono samples Whisper hears, with ffmpeg's libraries (PyAV)
in the decoder's own process, held to the upload.

Both engines get their audio from here rather than through their own loaders (openai-whisper's
`load_audio` starts an ffmpeg program for every file; faster-whisper's PyAV call detects any
format ffmpeg knows, playlists included). Here the container opens only with the format the
upload check found, only as a plain file (decoder.wire.containers), and no program starts.

As the ffmpeg program does, a damaged packet is skipped and decoding goes on, and a read error
ends the audio where it happened: the upload check has refused files damaged at their start or
end, and whisper decodes what is there.

    load_audio(path, ...)      the whole track (or its first seconds) in one array
    pcm_stream(file, ...)      the track (or the part of it an AudioFile names) as a stream of
                               blocks, for recordings of any length
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt
from av.container import InputContainer

from decoder.audio.samples import SAMPLE_RATE, Samples
from decoder.errors import AudioError
from decoder.wire.containers import OPEN_OPTIONS

log = logging.getLogger(__name__)

# What a stream hands on at a time: 10 s of audio, 320 KB of 16-bit samples.
BLOCK_SAMPLES = 10 * SAMPLE_RATE
# Where more of the packets than this fail to decode, the file is not what its format says (the
# ffmpeg program's `-max_error_rate`, with its default).
MAX_ERROR_RATE = 2 / 3
UNDECODABLE = "the audio could not be decoded"


@dataclass(frozen=True)
class AudioFile:
    """An upload to decode: its path, the format the upload check found (None: any accepted
    format), how long one run through all of it may take, and how long its audio may be
    (None: any length)."""

    path: str
    demuxer: str | None
    timeout_s: float
    max_duration_s: float | None = None
    # The one channel to hear (channels=split); None: all of them, mixed to mono.
    channel: int | None = None
    # The part of the recording to hear, in seconds (a run of one language); end None: to its end.
    # The samples before `start_s` are decoded and passed over, so a part costs a read up to its end.
    start_s: float = 0.0
    end_s: float | None = None


def _as_samples(pcm: npt.NDArray[np.int16]) -> Samples:
    return pcm.astype(np.float32) / 32768.0


def load_audio(path: str, demuxer: str | None, timeout_s: float, limit_s: float | None = None) -> Samples:
    """The first audio track of the file at `path` (only its first `limit_s` seconds, where given),
    as 16 kHz mono samples in [-1, 1]."""
    limit = None if limit_s is None else round(limit_s * SAMPLE_RATE)
    deadline = time.monotonic() + timeout_s
    parts: list[npt.NDArray[np.int16]] = []
    read = 0
    with _opened(path, demuxer) as container:
        for pcm in _pcm(container, path, deadline, timeout_s):
            parts.append(pcm)
            read += len(pcm)
            if limit is not None and read >= limit:
                break
    pcm = np.concatenate(parts) if parts else np.zeros(0, np.int16)
    return _as_samples(pcm[:limit])


@contextlib.contextmanager
def pcm_stream(file: AudioFile, *, timed: bool) -> Iterator[Iterator[Samples]]:
    """The file's first audio track as blocks of at most BLOCK_SAMPLES samples, read as they are used.

    Only the block in hand is in memory, whatever the file's length. `timed`: the whole run must
    end within the file's timeout (a read that keeps pace with decoding); untimed, it may take
    as long as the reader does. Leaving the block closes the file.
    """
    deadline = time.monotonic() + file.timeout_s if timed else None
    with _opened(file.path, file.demuxer) as container:
        yield _blocks(_pcm(container, file.path, deadline, file.timeout_s, file.channel), file)


def channel_count(file: AudioFile) -> int:
    """The channels of the file's first audio track."""
    with _opened(file.path, file.demuxer) as container:
        return int(container.streams.audio[0].channels or 1)


@contextlib.contextmanager
def _opened(path: str, demuxer: str | None) -> Iterator[InputContainer]:
    try:
        container = av.open(f"file:{path}", format=demuxer, container_options=dict(OPEN_OPTIONS))
    except av.error.FFmpegError as exc:
        # The library's words may hold the path and its internals: they go to the log only.
        log.error("the audio of %s could not be opened: %s", path, exc)
        raise AudioError(UNDECODABLE) from exc
    with container:
        audio = container.streams.audio
        if not audio or not audio[0].sample_rate:
            # No audio track, or none the format pinned to it finds a frame of.
            log.error("the audio of %s could not be decoded: no audio track with a sample rate", path)
            raise AudioError(UNDECODABLE)
        yield container


def _pcm(
    container: InputContainer, path: str, deadline: float | None, timeout_s: float, channel: int | None = None
) -> Iterator[npt.NDArray[np.int16]]:
    """The first audio track as 16 kHz mono 16-bit samples, in the pieces the decoder gives: all
    its channels mixed, or only `channel` (silence where a frame has no such channel)."""
    stream = container.streams.audio[0]
    resampler = _resampler(channel)
    packets = container.demux(stream)
    decoded = failed = 0
    while True:
        if deadline is not None and time.monotonic() > deadline:
            raise AudioError(f"decoding the audio took longer than {timeout_s:g} s")
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as exc:
            log.warning("reading the audio of %s stopped early: %s", path, exc)
            break
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            log.debug("a damaged packet in %s was skipped: %s", path, exc)
            failed += 1
            continue
        decoded += len(frames)
        for frame in frames:
            try:
                pieces = resampler.resample(frame)
            except ValueError:
                # The rate or the channels changed mid-stream (MP3s joined, an HE-AAC switch):
                # what the old setup holds goes first, and a new one takes the rest.
                yield from (_picked(piece, channel) for piece in resampler.resample(None))
                resampler = _resampler(channel)
                pieces = resampler.resample(frame)
            for resampled in pieces:
                yield _picked(resampled, channel)
    if failed > MAX_ERROR_RATE * (decoded + failed):
        log.error(
            "the audio of %s could not be decoded: %d of %d packets failed", path, failed, decoded + failed
        )
        raise AudioError(UNDECODABLE)
    for resampled in resampler.resample(None):
        yield _picked(resampled, channel)


def _resampler(channel: int | None) -> av.AudioResampler:
    """To 16 kHz 16-bit: mixed to mono, or planar with every channel kept, to pick one of."""
    if channel is None:
        return av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    return av.AudioResampler(format="s16p", rate=SAMPLE_RATE)


def _picked(frame: av.AudioFrame, channel: int | None) -> npt.NDArray[np.int16]:
    planes: npt.NDArray[np.int16] = np.asarray(frame.to_ndarray(), np.int16)
    row = 0 if channel is None else channel
    picked: npt.NDArray[np.int16] = planes[row] if row < len(planes) else np.zeros(planes.shape[1], np.int16)
    return picked


def _blocks(pieces: Iterator[npt.NDArray[np.int16]], file: AudioFile) -> Iterator[Samples]:
    """The pieces of the file's part gathered into blocks of BLOCK_SAMPLES (the last one shorter)."""
    limit = None if file.max_duration_s is None else file.max_duration_s * SAMPLE_RATE
    first = round(file.start_s * SAMPLE_RATE)
    last = None if file.end_s is None else round(file.end_s * SAMPLE_RATE)
    held: list[npt.NDArray[np.int16]] = []
    held_samples = read = 0
    for piece in pieces:
        begins = read
        read += len(piece)
        if limit is not None and read > limit:
            raise AudioError(
                f"the audio is longer than the limit of {file.max_duration_s:g} s (MAX_AUDIO_DURATION_S)"
            )
        piece = piece[max(0, first - begins) : None if last is None else max(0, last - begins)]
        held.append(piece)
        held_samples += len(piece)
        while held_samples >= BLOCK_SAMPLES:
            joined = np.concatenate(held)
            yield _as_samples(joined[:BLOCK_SAMPLES])
            held = [joined[BLOCK_SAMPLES:]]
            held_samples -= BLOCK_SAMPLES
        if last is not None and read >= last:
            break
    if held_samples:
        yield _as_samples(np.concatenate(held))
