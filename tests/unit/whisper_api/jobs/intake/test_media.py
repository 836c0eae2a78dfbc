"""The upload check against real files, through the real checker processes: espeak-ng speech
encoded by ffmpeg, then cut or damaged."""

from __future__ import annotations

import logging
import os
import random
import shutil
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.speech import PARAGRAPHS, speak
from whisper_api.jobs.errors import NotAudio
from whisper_api.jobs.intake.media import PROBE_TIMEOUT_S, UploadChecker


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def cut_in_half(source: Path, target: Path) -> None:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])


def noise_after_header(source: Path, target: Path) -> None:
    """The first 8 kB of a good file (its header and a little audio), then random bytes."""
    target.write_bytes(source.read_bytes()[:8000] + random.Random(7).randbytes(200_000))


@pytest.fixture(scope="module")
def checker() -> Iterator[UploadChecker]:
    checker = UploadChecker()
    checker.start()
    yield checker
    checker.stop()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    wav = speak(PARAGRAPHS[1], folder / "speech.wav")
    ffmpeg("-i", wav, folder / "speech.mp3")
    ffmpeg("-i", wav, "-c:a", "libopus", folder / "speech.ogg")
    ffmpeg("-i", wav, folder / "speech.flac")
    ffmpeg("-i", wav, "-c:a", "aac", folder / "speech.m4a")
    ffmpeg("-i", wav, "-c:a", "aac", "-movflags", "+faststart", folder / "faststart.m4a")
    ffmpeg("-i", wav, "-c:a", "libopus", folder / "speech.webm")
    picture = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=5"]
    ffmpeg(*picture, "-i", wav, "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p", folder / "video.mp4")
    ffmpeg(*picture, "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", folder / "silent_video.mp4")
    ffmpeg(*picture, "-frames:v", "1", folder / "image.png")
    # Without the Xing header ffmpeg estimates the duration from the first frames' bit rate: the
    # quiet start makes it overshoot the real end by far, which must not read as a cut-off file.
    ffmpeg(
        *["-f", "lavfi", "-t", "20", "-i", "anullsrc=r=22050:cl=mono", "-i", str(wav)],
        *["-filter_complex", "[0][1]concat=n=2:v=0:a=1", "-c:a", "libmp3lame", "-q:a", "5"],
        *["-write_xing", "0", str(folder / "quiet_start_vbr.mp3")],
    )
    ffmpeg("-stream_loop", "3", "-i", wav, "-c", "copy", folder / "looped.wav")
    # Written to a pipe, espeak-ng cannot go back to fill in the length: the header says 0x7ffff000.
    with (folder / "piped.wav").open("wb") as piped:
        subprocess.run(["espeak-ng", "-v", "en-us", "--stdout", PARAGRAPHS[2][:80]], stdout=piped, check=True)
    ffmpeg("-i", folder / "piped.wav", "-c:a", "aac", "-movflags", "+faststart", folder / "short.m4a")
    ffmpeg("-stream_loop", "-1", "-i", folder / "speech.mp3", "-c", "copy", "-t", "3600", folder / "hour.mp3")

    shutil.copy(folder / "speech.mp3", folder / "mp3_named.wav")
    (folder / "empty.wav").write_bytes(b"")
    (folder / "text.mp3").write_text("These are meeting notes, not a recording.\n" * 20)
    (folder / "random.wav").write_bytes(random.Random(3).randbytes(100_000))
    for name in ("looped.wav", "speech.mp3", "speech.ogg", "speech.flac", "speech.m4a", "faststart.m4a"):
        cut_in_half(folder / name, folder / f"cut_{name}")
    for name in ("speech.webm", "short.m4a", "video.mp4"):
        cut_in_half(folder / name, folder / f"cut_{name}")
    cut_in_half(folder / "hour.mp3", folder / "cut_hour.mp3")
    for name in ("speech.mp3", "speech.flac", "faststart.m4a", "speech.ogg"):
        noise_after_header(folder / name, folder / f"noise_{name}")
    return folder


def spoken_seconds(media: Path) -> float:
    with wave.open(str(media / "speech.wav")) as speech:
        return float(speech.getnframes() / speech.getframerate())


@pytest.mark.parametrize(
    "name",
    [
        "speech.wav",
        "speech.mp3",
        "speech.ogg",
        "speech.flac",
        "speech.m4a",
        "faststart.m4a",
        "speech.webm",
        "video.mp4",
        "mp3_named.wav",
    ],
)
def test_audio_ffmpeg_reads_passes_with_its_duration(checker: UploadChecker, media: Path, name: str) -> None:
    duration = checker.check(media / name).duration_s
    assert duration == pytest.approx(spoken_seconds(media), abs=0.3)


@pytest.mark.parametrize(
    "name",
    [
        "piped.wav",  # its header does not know the length
        "quiet_start_vbr.mp3",  # ffprobe's duration estimate lies far past the real end
        "cut_looped.wav",  # cut off, but it looks like a WAV written to a pipe
        "cut_speech.ogg",  # cut off, but it reads as a shorter, valid file
    ],
)
def test_what_cannot_be_told_from_good_audio_passes(checker: UploadChecker, media: Path, name: str) -> None:
    assert checker.check(media / name) is not None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.wav", "the file is empty"),
        ("text.mp3", "not an audio or video file that ffmpeg can read"),
        ("random.wav", "not an audio or video file that ffmpeg can read"),
        # An image's format is not even opened: only audio and video containers are.
        ("image.png", "not an audio or video file in a format this server accepts"),
        ("silent_video.mp4", "the file has no audio track"),
        ("cut_video.mp4", "its MP4/MOV index (moov atom) is missing"),
        ("cut_speech.m4a", "its MP4/MOV index (moov atom) is missing"),
        ("cut_faststart.m4a", "the file is cut off"),
        ("cut_short.m4a", "the file is cut off: its data ends before the length its header declares"),
        ("cut_speech.mp3", "the file is cut off"),
        ("cut_speech.webm", "the file is cut off"),
        ("cut_speech.flac", "the audio is damaged and cannot be decoded"),
        ("noise_speech.mp3", "the audio is damaged and cannot be decoded"),
        ("noise_faststart.m4a", "the audio is damaged and cannot be decoded"),
        ("noise_speech.flac", "holds no audio that can be decoded"),
        ("noise_speech.ogg", "not an audio or video file that ffmpeg can read"),
    ],
)
def test_a_bad_file_is_refused_with_what_is_wrong(
    checker: UploadChecker, media: Path, name: str, reason: str
) -> None:
    with pytest.raises(NotAudio) as refused:
        checker.check(media / name)
    assert reason in str(refused.value)
    assert str(media) not in str(refused.value)


def test_ffmpeg_s_own_words_go_to_the_log_not_to_the_client(
    checker: UploadChecker, media: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "whisper_api.jobs.intake.media"), pytest.raises(NotAudio) as refused:
        checker.check(media / "cut_speech.flac")
    assert "invalid residual" not in str(refused.value)
    assert "invalid residual" in caplog.text and str(media) not in caplog.text


def test_an_hour_of_audio_is_checked_in_well_under_a_second_or_two(
    checker: UploadChecker, media: Path
) -> None:
    started = time.monotonic()
    duration = checker.check(media / "hour.mp3").duration_s
    whole = time.monotonic() - started
    started = time.monotonic()
    with pytest.raises(NotAudio, match="cut off"):
        checker.check(media / "cut_hour.mp3")
    cut = time.monotonic() - started
    print(f"1-hour MP3: {whole:.2f} s; cut in half: {cut:.2f} s")
    assert duration == pytest.approx(3600, abs=2)
    assert whole < 5 and cut < 5


def hls_playlist(target: Path, segment: Path, *, live: bool = False) -> Path:
    """An HLS playlist whose one segment is a file on the server, named by its absolute path."""
    end = "" if live else "#EXT-X-ENDLIST\n"
    target.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:30\n#EXTINF:30,\n{segment}\n{end}")
    return target


@pytest.mark.parametrize("live", [False, True], ids=["ended", "live"])
def test_a_playlist_naming_a_server_file_is_refused_unread(
    checker: UploadChecker, tmp_path: Path, live: bool
) -> None:
    # The segment is a FIFO with no writer: a run that opened it would hang until its time limit.
    fifo = tmp_path / "segment.wav"
    os.mkfifo(fifo)
    playlist = hls_playlist(tmp_path / "upload.m3u8", fifo, live=live)
    started = time.monotonic()
    with pytest.raises(NotAudio, match="playlists such as HLS/m3u8"):
        checker.check(playlist)
    assert time.monotonic() - started < PROBE_TIMEOUT_S / 3


def test_a_concat_script_is_refused(checker: UploadChecker, media: Path, tmp_path: Path) -> None:
    script = tmp_path / "list.wav"
    script.write_text(f"ffconcat version 1.0\nfile '{media / 'speech.wav'}'\n")
    with pytest.raises(NotAudio, match="not an audio or video file in a format this server accepts"):
        checker.check(script)


def test_the_probe_names_the_format_to_pin(checker: UploadChecker, media: Path) -> None:
    assert checker.check(media / "speech.m4a").demuxer == "mov"
    assert checker.check(media / "mp3_named.wav").demuxer == "mp3"
    assert checker.check(media / "speech.webm").demuxer == "matroska"
