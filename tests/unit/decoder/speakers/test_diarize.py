from __future__ import annotations

import base64
import itertools
import subprocess
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from decoder.audio.ffmpeg import AudioFile
from decoder.audio.samples import SAMPLE_RATE
from decoder.errors import BadReference
from decoder.speakers.diarize import (
    HOP_S,
    MIN_WINDOW_S,
    PAUSE_S,
    WINDOW_S,
    Loudness,
    Window,
    clips_of,
    diarize,
    label_transcript,
    numbered,
    speech_stretches,
    windows_over,
)
from decoder.wire.options import Diarization, KnownSpeaker
from decoder.wire.transcript import Segment, Transcript, Word

# Two "voices" for a fake encoder: tones it tells apart by pitch.
LOW_HZ, HIGH_HZ = 220, 1760


class PitchEncoder:
    """Embeds a clip as its share of energy below and above 1 kHz: enough to tell the tones apart."""

    name = "pitch"

    def embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        rows = []
        for clip in clips:
            power = np.abs(np.fft.rfft(clip)) ** 2
            cut = len(power) * 1000 // (SAMPLE_RATE // 2)
            row = np.array([power[:cut].sum(), power[cut:].sum()]) + 1e-9
            rows.append(row / np.linalg.norm(row))
        return np.array(rows, np.float32).reshape(-1, 2)


def words_from(spans: list[tuple[float, float]]) -> tuple[Word, ...]:
    return tuple(Word(start, end, f" w{index}", 0.9) for index, (start, end) in enumerate(spans))


def test_words_close_together_are_one_stretch() -> None:
    words = words_from([(0.0, 0.5), (0.6, 1.0), (1.0 + PAUSE_S + 0.05, 2.0)])
    transcript = Transcript("", "en", 2.0, (Segment(0.0, 2.0, "", words),))
    assert speech_stretches(transcript) == [(0.0, 1.0), (1.0 + PAUSE_S + 0.05, 2.0)]


def test_windows_stay_inside_their_stretch() -> None:
    windows = windows_over([(0.0, MIN_WINDOW_S / 2), (1.0, 1.0 + WINDOW_S / 2), (3.0, 5.1)])
    assert windows[0] == Window(1.0, 1.0 + WINDOW_S / 2)
    inside = windows[1:]
    assert inside[0].start == 3.0 and inside[-1].end == pytest.approx(5.1)
    assert all(window.end - window.start == pytest.approx(WINDOW_S) for window in inside)
    assert all(b.start - a.start <= HOP_S + 1e-9 for a, b in itertools.pairwise(inside))
    assert [w.start for w in windows] == sorted(w.start for w in windows)
    assert [w.end for w in windows] == sorted(w.end for w in windows), "label_transcript searches both"


def test_clips_are_cut_from_blocks_of_any_size() -> None:
    samples = np.arange(10 * SAMPLE_RATE, dtype=np.float32)
    blocks = [samples[i : i + 7919] for i in range(0, len(samples), 7919)]
    windows = [Window(0.5, 1.5), Window(0.75, 1.75), Window(4.0, 4.3), Window(9.5, 10.5)]
    clips = list(clips_of(iter(blocks), windows))
    for window, clip in zip(windows, clips, strict=True):
        start, end = round(window.start * SAMPLE_RATE), round(window.end * SAMPLE_RATE)
        assert np.array_equal(clip, samples[start:end])


def test_a_pause_of_any_length_between_windows_holds_one_block() -> None:
    block_samples = 10 * SAMPLE_RATE
    half_hour = 180
    windows = [Window(0.0, 1.0), Window(half_hour * 10 - 1.0, half_hour * 10.0)]
    tracemalloc.start()
    try:
        blocks = (np.full(block_samples, index, np.float32) for index in range(half_hour))
        clips = list(clips_of(blocks, windows))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert clips[1][0] == half_hour - 1 and len(clips[1]) == SAMPLE_RATE
    # Half an hour held would be 115 MB; a block is 640 KB.
    assert peak < 4 * block_samples * 4, peak


def test_the_longest_quiet_stretch_is_the_pause() -> None:
    loud = np.ones(SAMPLE_RATE, np.float32) * 0.5
    quiet = np.zeros(SAMPLE_RATE // 2, np.float32)
    loudness = Loudness()
    list(loudness.measure([loud, quiet, loud]))
    assert loudness.pause_between(0.5, 2.0) == (1.0, 1.5)
    assert loudness.pause_between(0.1, 0.9) is None


def test_a_segment_is_split_where_the_speaker_changes() -> None:
    words = words_from([(0.0, 1.0), (1.2, 2.0), (2.6, 3.2), (3.3, 4.0)])
    transcript = Transcript("", "en", 4.0, (Segment(0.0, 4.0, " w0 w1 w2 w3", words),))
    windows = [Window(0.0, 1.0), Window(1.0, 2.0), Window(2.6, 3.6), Window(3.0, 4.0)]
    scores = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], np.float32)
    labelled = label_transcript(transcript, windows, scores, ["SPEAKER_00", "SPEAKER_01"])
    assert labelled.speakers == ("SPEAKER_00", "SPEAKER_01")
    assert [(s.start, s.end, s.text, s.speaker) for s in labelled.segments] == [
        (0.0, 2.0, " w0 w1", "SPEAKER_00"),
        (2.6, 4.0, " w2 w3", "SPEAKER_01"),
    ]
    assert [word.speaker for segment in labelled.segments for word in segment.words] == [
        "SPEAKER_00",
        "SPEAKER_00",
        "SPEAKER_01",
        "SPEAKER_01",
    ]


def tones(path: Path, *parts: tuple[int, float]) -> Path:
    """A WAV of tones (pitch, seconds) one after another, 0.5 s of silence between them."""
    inputs: list[str] = []
    for hz, seconds in parts:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency={hz}:duration={seconds}:sample_rate={SAMPLE_RATE}"]
        inputs += ["-f", "lavfi", "-i", f"anullsrc=r={SAMPLE_RATE}:cl=mono:d=0.5"]
    joined = "".join(f"[{i}:a]" for i in range(2 * len(parts))) + f"concat=n={2 * len(parts)}:v=0:a=1"
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", joined, str(path)], check=True)
    return path


def word_spans(*parts: float) -> list[tuple[float, float]]:
    """Words of 0.4 s every 0.5 s over each part, as placed by tones()."""
    spans, at = [], 0.0
    for seconds in parts:
        spans += [(at + i * 0.5, at + i * 0.5 + 0.4) for i in range(int(seconds / 0.5))]
        at += seconds + 0.5
    return spans


def by_pitch(
    recording: Path,
    transcript: Transcript,
    known: tuple[KnownSpeaker, ...],
    on_progress: Callable[[float, float], None] = lambda *_: None,
) -> Transcript:
    """The transcript of the tones in `recording`, labelled by the pitch encoder."""
    audio = AudioFile(str(recording), None, 60)
    return diarize(audio, transcript, Diarization(known=known), PitchEncoder(), on_progress, 60)


def data_url(path: Path) -> str:
    return "data:audio/wav;base64," + base64.b64encode(path.read_bytes()).decode()


def test_known_speakers_name_the_voices_their_clips_match(tmp_path: Path) -> None:
    recording = tones(tmp_path / "talk.wav", (LOW_HZ, 3.0), (HIGH_HZ, 3.0), (LOW_HZ, 3.0))
    words = words_from(word_spans(3.0, 3.0, 3.0))
    transcript = Transcript("", "en", 10.0, (Segment(0.0, 10.0, "", words),))
    known = (
        KnownSpeaker("High", data_url(tones(tmp_path / "high.wav", (HIGH_HZ, 2.0)))),
        KnownSpeaker("Low", data_url(tones(tmp_path / "low.wav", (LOW_HZ, 2.0)))),
    )
    reported: list[tuple[float, float]] = []
    labelled = by_pitch(
        recording, transcript, known, lambda covered, total: reported.append((covered, total))
    )
    assert [segment.speaker for segment in labelled.segments] == ["Low", "High", "Low"]
    assert labelled.speakers == ("Low", "High")
    assert reported and reported[-1][1] == 10.0


def test_a_known_speaker_called_like_a_label_keeps_the_other_voice_apart(tmp_path: Path) -> None:
    recording = tones(tmp_path / "talk.wav", (LOW_HZ, 3.0), (HIGH_HZ, 3.0))
    words = words_from(word_spans(3.0, 3.0))
    transcript = Transcript("", "en", 7.0, (Segment(0.0, 7.0, "", words),))
    known = (KnownSpeaker("SPEAKER_00", data_url(tones(tmp_path / "high.wav", (HIGH_HZ, 2.0)))),)
    labelled = by_pitch(recording, transcript, known)
    # The low voice, heard first and unknown, is not given the known speaker's name.
    assert [segment.speaker for segment in labelled.segments] == ["SPEAKER_01", "SPEAKER_00"]
    assert labelled.speakers == ("SPEAKER_01", "SPEAKER_00")


def test_labels_follow_the_order_of_speaking_with_no_gaps() -> None:
    words = words_from([(0.0, 1.0), (2.0, 3.0), (4.0, 5.0)])
    transcript = Transcript("", "en", 5.0, (Segment(0.0, 5.0, "", words),))
    # Three voices found, but the second wins no word; the third speaks before the first.
    heard = Transcript(
        "",
        "en",
        5.0,
        tuple(
            Segment(w.start, w.end, w.word, (replace(w, speaker=who),), None, who)
            for w, who in zip(transcript.segments[0].words, ["\x002", "\x000", "Ann"], strict=True)
        ),
        ("\x002", "\x000", "Ann"),
    )
    labelled = numbered(heard, {"Ann"})
    assert labelled.speakers == ("SPEAKER_00", "SPEAKER_01", "Ann")
    assert [word.speaker for segment in labelled.segments for word in segment.words] == [
        "SPEAKER_00",
        "SPEAKER_01",
        "Ann",
    ]


def test_an_unreadable_reference_fails_with_its_speaker_named(tmp_path: Path) -> None:
    recording = tones(tmp_path / "talk.wav", (LOW_HZ, 2.0))
    transcript = Transcript("", "en", 2.5, (Segment(0.0, 2.0, "", words_from(word_spans(2.0))),))
    known = (KnownSpeaker("Ann", "data:audio/wav;base64," + base64.b64encode(b"not audio").decode()),)
    with pytest.raises(BadReference, match="Ann"):
        by_pitch(recording, transcript, known)


def test_a_transcript_without_speech_is_left_as_it_is(tmp_path: Path) -> None:
    silent = Transcript("", "en", 1.0, ())
    assert by_pitch(tmp_path / "none.wav", silent, ()) is silent
