"""The streamed spectrogram against each library's own spectrogram of the whole file."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from decoder.audio.ffmpeg import AudioFile, load_audio
from decoder.audio.samples import SAMPLE_RATE, Samples
from decoder.audio.spectrogram import BLOCK_FRAMES, LongRecording, MelRecipe, StreamedMel, survey
from tests.support.speech import PARAGRAPHS, speak


def openai_whisper() -> tuple[MelRecipe, Callable[[Samples], np.ndarray]]:
    import whisper

    from decoder.engines.openai_whisper_engine import mel_recipe

    def whole(samples: Samples) -> np.ndarray:
        spectrogram: np.ndarray = whisper.log_mel_spectrogram(
            samples, 80, padding=whisper.audio.N_SAMPLES
        ).numpy()
        return spectrogram

    return mel_recipe(80), whole


def faster_whisper() -> tuple[MelRecipe, Callable[[Samples], np.ndarray]]:
    from faster_whisper.feature_extractor import FeatureExtractor

    from decoder.engines.faster_whisper_engine import mel_recipe

    extractor = FeatureExtractor()
    return mel_recipe(extractor), extractor


LIBRARIES = {"openai-whisper": openai_whisper, "faster-whisper": faster_whisper}


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> AudioFile:
    """About 50 s: several of the stream's blocks and of the spectrogram's, and a quiet start."""
    directory = tmp_path_factory.mktemp("spectrogram")
    parts = [speak(text, directory / f"{index}.wav") for index, text in enumerate(PARAGRAPHS[:3])]
    joined = directory / "joined.ogg"
    inputs = [argument for part in parts for argument in ("-i", str(part))]
    graph = "anullsrc=r=22050:cl=mono:d=1.3[quiet];[quiet][0][1][2]concat=n=4:v=0:a=1"
    command = ["ffmpeg", "-v", "error", *inputs, "-filter_complex", graph, "-c:a", "libopus", str(joined)]
    subprocess.run(command, check=True)
    return AudioFile(str(joined), "ogg", 60)


@pytest.mark.parametrize("library", LIBRARIES)
def test_streamed_frames_are_the_whole_files(library: str, recording: AudioFile) -> None:
    recipe, whole_spectrogram = LIBRARIES[library]()
    samples = load_audio(recording.path, recording.demuxer, 60)
    expected = whole_spectrogram(samples)
    surveyed = survey(recording, recipe, whole_file_limit_s=0).audio
    assert isinstance(surveyed, LongRecording) and surveyed.samples == len(samples)
    with StreamedMel(surveyed, recipe) as mel:
        assert mel.shape == expected.shape
        # Forward windows that overlap and skip, as the seek loop asks for them.
        starts = range(0, mel.shape[1], 2 * BLOCK_FRAMES // 3)
        for start in starts:
            got = mel.frames(start, start + BLOCK_FRAMES)
            np.testing.assert_allclose(got, expected[:, start : start + BLOCK_FRAMES], atol=2e-5)
        with pytest.raises(ValueError, match="already dropped"):
            mel.frames(0, 10)


def test_a_short_recording_comes_back_whole(recording: AudioFile) -> None:
    recipe, _ = faster_whisper()
    whole = survey(recording, recipe, whole_file_limit_s=600).audio
    assert isinstance(whole, np.ndarray)
    assert np.array_equal(whole, load_audio(recording.path, recording.demuxer, 60))
    assert 30 < len(whole) / SAMPLE_RATE < 120


def test_a_second_decode_that_ends_early_ends_in_silence(recording: AudioFile, tmp_path: Path) -> None:
    recipe, _ = faster_whisper()
    surveyed = survey(recording, recipe, whole_file_limit_s=0).audio
    assert isinstance(surveyed, LongRecording)
    shorter = tmp_path / "short.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-i", recording.path, "-t", "5", str(shorter)], check=True)
    stand_in = LongRecording(AudioFile(str(shorter), "wav", 60), surveyed.samples, surveyed.peak)
    with StreamedMel(stand_in, recipe) as mel:
        tail = mel.frames(mel.shape[1] - 100, mel.shape[1])
    assert tail.shape == (recipe.n_mels, 100)
    np.testing.assert_allclose(tail, (surveyed.peak - 8.0 + 4.0) / 4.0, rtol=1e-6)
