"""Decoding an upload in the decoder: the pinned format, no indirection, short errors, no process."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from decoder.audio.ffmpeg import BLOCK_SAMPLES, AudioFile, channel_count, load_audio, pcm_stream
from decoder.audio.samples import SAMPLE_RATE
from decoder.errors import AudioError
from decoder.wire.containers import ACCEPTED_DEMUXERS, demuxer_of
from tests.support.speech import PARAGRAPHS, speak


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speak(PARAGRAPHS[0], tmp_path_factory.mktemp("audio") / "speech.wav")


def test_decodes_16khz_mono_samples(speech: Path) -> None:
    samples = load_audio(str(speech), "wav", timeout_s=60)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert 5 < len(samples) / SAMPLE_RATE < 60
    assert 0 < float(np.abs(samples).max()) <= 1.0


def test_the_pinned_format_is_the_only_one_tried(speech: Path) -> None:
    with pytest.raises(AudioError) as refused:
        load_audio(str(speech), "mp3", timeout_s=60)
    assert str(refused.value) == "the audio could not be decoded"


def test_a_playlist_is_not_followed_even_unpinned(tmp_path: Path) -> None:
    fifo = tmp_path / "segment.wav"
    os.mkfifo(fifo)
    playlist = tmp_path / "upload.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:30\n#EXTINF:30,\n{fifo}\n")
    started = time.monotonic()
    with pytest.raises(AudioError) as refused:
        load_audio(str(playlist), None, timeout_s=30)
    assert time.monotonic() - started < 10
    assert str(tmp_path) not in str(refused.value)


def test_a_run_past_its_time_limit_is_ended(speech: Path) -> None:
    with pytest.raises(AudioError, match="took longer than"):
        load_audio(str(speech), "wav", timeout_s=0.001)


def test_only_the_first_seconds_when_limited(speech: Path) -> None:
    assert len(load_audio(str(speech), "wav", timeout_s=60, limit_s=2.5)) == 2.5 * SAMPLE_RATE


def test_a_stream_gives_the_same_samples_in_blocks(speech: Path) -> None:
    with pcm_stream(AudioFile(str(speech), "wav", 60), timed=True) as blocks:
        streamed = list(blocks)
    assert all(len(block) == BLOCK_SAMPLES for block in streamed[:-1])
    assert np.array_equal(np.concatenate(streamed), load_audio(str(speech), "wav", timeout_s=60))


def open_files() -> set[str]:
    return {os.readlink(fd) for fd in Path("/proc/self/fd").iterdir() if fd.exists()}


def test_a_stream_left_early_closes_the_file(speech: Path) -> None:
    with pcm_stream(AudioFile(str(speech), "wav", 60), timed=False) as blocks:
        first = next(iter(blocks))
        assert str(speech) in open_files()
    assert len(first) == BLOCK_SAMPLES
    assert str(speech) not in open_files()


def test_decoding_starts_no_process(speech: Path) -> None:
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    before = children.read_text().split()
    with pcm_stream(AudioFile(str(speech), "wav", 60), timed=False) as blocks:
        next(iter(blocks))
        assert children.read_text().split() == before


def test_a_rate_that_changes_mid_stream_is_followed(speech: Path, tmp_path: Path) -> None:
    # MP3 frames describe themselves: two files at different rates and channels, joined, play
    # as one stream whose format changes half-way.
    parts = []
    for rate, channels in ((22050, 1), (44100, 2)):
        part = tmp_path / f"{rate}.mp3"
        arguments = ["-ar", str(rate), "-ac", str(channels), "-write_xing", "0"]
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(speech), *arguments, str(part)], check=True)
        parts.append(part.read_bytes())
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(b"".join(parts))
    samples = load_audio(str(joined), "mp3", timeout_s=60)
    alone = load_audio(str(speech), "wav", timeout_s=60)
    assert len(samples) == pytest.approx(2 * len(alone), rel=0.02)


def test_a_stream_names_no_path_when_it_fails(speech: Path) -> None:
    pinned_wrong = AudioFile(str(speech), "mp3", 60)
    with pytest.raises(AudioError) as refused, pcm_stream(pinned_wrong, timed=True) as blocks:
        list(blocks)
    assert str(refused.value) == "the audio could not be decoded"


def test_a_timed_stream_is_held_to_its_limit(speech: Path) -> None:
    with (
        pytest.raises(AudioError, match="took longer than"),
        pcm_stream(AudioFile(str(speech), "wav", 0.001), timed=True) as blocks,
    ):
        list(blocks)


def test_a_stream_longer_than_its_limit_fails(speech: Path) -> None:
    with (
        pytest.raises(AudioError, match="longer than the limit of 1 s") as refused,
        pcm_stream(AudioFile(str(speech), "wav", 60, max_duration_s=1), timed=True) as blocks,
    ):
        list(blocks)
    assert "MAX_AUDIO_DURATION_S" in str(refused.value)


def test_demuxer_names() -> None:
    assert demuxer_of("mov,mp4,m4a,3gp,3g2,mj2") == "mov"
    assert demuxer_of("matroska,webm") == "matroska"
    assert demuxer_of("hls") is None and demuxer_of("concat") is None and demuxer_of("") is None
    assert not {"hls", "dash", "concat", "sdp", "rtp", "rtsp", "image2", "imf"} & set(ACCEPTED_DEMUXERS)


def test_one_channel_is_picked_or_all_are_mixed(tmp_path: Path) -> None:
    stereo = tmp_path / "stereo.wav"
    # A tone on the left, silence on the right.
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=440:d=2",
            "-af",
            "pan=stereo|c0=c0",
            str(stereo),
        ],
        check=True,
    )
    file = AudioFile(str(stereo), None, timeout_s=60)
    assert channel_count(file) == 2

    def level(channel: int | None) -> float:
        with pcm_stream(dataclasses.replace(file, channel=channel), timed=True) as blocks:
            samples = np.concatenate(list(blocks))
        assert len(samples) == 2 * SAMPLE_RATE
        return float(np.abs(samples).mean())

    left, right, mixed, missing = level(0), level(1), level(None), level(5)
    assert left > 0.05 and right == 0.0 and missing == 0.0
    assert 0.2 * left < mixed < left


@pytest.mark.parametrize(("start_s", "end_s"), [(0.0, 3.5), (2.25, 11.0), (12.0, None), (3.0, 1000.0)])
def test_a_part_of_a_file_is_exactly_its_samples(speech: Path, start_s: float, end_s: float | None) -> None:
    whole = load_audio(str(speech), "wav", timeout_s=60)
    part = AudioFile(str(speech), "wav", 60, start_s=start_s, end_s=end_s)
    with pcm_stream(part, timed=True) as blocks:
        pieces = list(blocks)
    assert all(len(piece) <= BLOCK_SAMPLES for piece in pieces)
    end = None if end_s is None else round(end_s * SAMPLE_RATE)
    assert np.array_equal(np.concatenate(pieces), whole[round(start_s * SAMPLE_RATE) : end])
