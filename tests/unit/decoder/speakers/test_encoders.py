from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from decoder.audio.ffmpeg import load_audio
from decoder.audio.samples import SAMPLE_RATE
from decoder.errors import EncoderMissing
from decoder.model_import.packaged import packaged_encoder
from decoder.speakers.encoders import VoiceEncoder, load_encoder, slaney_mel_filters
from tests.support.speech import PARAGRAPHS, VOICES, speak


def test_the_mel_filters_rise_and_fall_in_order_over_the_spectrum() -> None:
    filters = slaney_mel_filters()
    assert filters.shape == (40, 201) and (filters >= 0).all()
    peaks = filters.argmax(axis=1)
    assert (np.diff(peaks) > 0).all()
    # Linear spacing below 1 kHz (bins of 40 Hz), wider and wider above.
    assert len(set(np.diff(peaks[:10]).tolist())) <= 2 and np.diff(peaks)[-1] > 3 * np.diff(peaks)[0]
    # Each filter is scaled to the same area (Slaney's norm), so the wide ones are low.
    heights = filters.max(axis=1)
    assert heights[-1] < heights[0] / 5


@pytest.fixture(scope="module")
def encoder() -> VoiceEncoder:
    weights = packaged_encoder()
    assert weights is not None, "make test installs resemblyzer"
    return VoiceEncoder(weights, "cpu")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    directory = tmp_path_factory.mktemp("voices")
    return {
        voice: load_audio(str(speak(PARAGRAPHS[1], directory / f"{voice}.wav", voice=voice)), None, 60)
        for voice in VOICES
    }


def windows(samples: np.ndarray, count: int = 8) -> list[np.ndarray]:
    return [samples[i * SAMPLE_RATE : (i + 1) * SAMPLE_RATE] for i in range(1, count + 1)]


def test_windows_of_one_voice_are_more_alike_than_of_two(
    encoder: VoiceEncoder, clips: dict[str, np.ndarray]
) -> None:
    first, second = (encoder.embed(windows(clips[voice])) for voice in VOICES)
    assert first.shape == (8, 256)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    within = min((first @ first.T).mean(), (second @ second.T).mean())
    across = (first @ second.T).mean()
    assert within > across + 0.1, (within, across)


def test_a_pause_inside_a_window_leaves_its_embedding_as_it_was(
    encoder: VoiceEncoder, clips: dict[str, np.ndarray]
) -> None:
    speech = clips[VOICES[0]][SAMPLE_RATE : 2 * SAMPLE_RATE]
    padded = np.concatenate(
        [speech[: SAMPLE_RATE // 2], np.zeros(SAMPLE_RATE // 2, np.float32), speech[SAMPLE_RATE // 2 :]]
    )
    plain, paused = encoder.embed([speech, padded])
    assert float(plain @ paused) > 0.98


def test_clips_of_any_length_are_embedded_in_one_call(
    encoder: VoiceEncoder, clips: dict[str, np.ndarray]
) -> None:
    samples = clips[VOICES[1]]
    lengths = [SAMPLE_RATE // 3, SAMPLE_RATE, 3 * SAMPLE_RATE]
    together = encoder.embed([samples[:length] for length in lengths])
    alone = np.concatenate([encoder.embed([samples[:length]]) for length in lengths])
    assert np.allclose(together, alone, atol=1e-5)
    assert encoder.embed([]).shape == (0, 256)


def test_a_model_dir_without_an_encoder_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(EncoderMissing, match="ensure-model"):
        load_encoder(tmp_path, "resemblyzer", 1)
