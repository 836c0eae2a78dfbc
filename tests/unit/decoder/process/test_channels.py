from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from decoder.audio.ffmpeg import AudioFile
from decoder.engines.base import ProgressCallback
from decoder.errors import AudioError
from decoder.process.channels import StageCallback, channel_label, decode_channels, merged
from decoder.wire.transcript import LanguageShare, Segment, Transcript, Word


def tone_file(path: Path, channels: int) -> AudioFile:
    """A second of tones, one frequency per channel."""
    inputs = [
        arg for index in range(channels) for arg in ("-f", "lavfi", "-i", f"sine={300 + 100 * index}:d=1")
    ]
    graph = "".join(f"[{index}]" for index in range(channels)) + f"amerge=inputs={channels}"
    command = ["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", graph, str(path)]
    subprocess.run(
        command if channels > 1 else ["ffmpeg", "-v", "error", "-y", *inputs, str(path)], check=True
    )
    return AudioFile(str(path), None, timeout_s=60)


def heard_as(text: str, start: float, language: str = "en", speaker: str | None = None) -> Transcript:
    word = Word(start, start + 1, text, 0.9, speaker)
    segment = Segment(start, start + 1, f" {text}", (word,), speaker=speaker)
    return Transcript(text, language, 10.0, (segment,))


def test_each_channel_is_heard_alone_labelled_and_merged_in_time_order(tmp_path: Path) -> None:
    audio = tone_file(tmp_path / "three.wav", 3)
    heard: list[int | None] = []
    reports: list[tuple[float, float, tuple[Segment, ...]]] = []
    stages: list[tuple[float, float]] = []

    def hear(one: AudioFile, progress: ProgressCallback, stage: StageCallback) -> Transcript:
        heard.append(one.channel)
        assert one.channel is not None
        transcript = heard_as(f"word{one.channel}", start=[5.0, 1.0, 3.0][one.channel])
        progress(10.0, 10.0, transcript.segments)
        stage(10.0, 10.0)
        return transcript

    merged_transcript = decode_channels(
        audio, ("Agent",), hear, lambda *report: reports.append(report), lambda *stage: stages.append(stage)
    )
    assert heard == [0, 1, 2]
    assert [segment.channel for segment in merged_transcript.segments] == [1, 2, 0]
    assert [segment.speaker for segment in merged_transcript.segments] == ["channel 1", "channel 2", "Agent"]
    assert merged_transcript.segments[0].words[0].speaker == "channel 1"
    assert merged_transcript.speakers == ("channel 1", "channel 2", "Agent")
    assert merged_transcript.text == "word1 word2 word0"
    # Progress runs over the channels together, its segments labelled.
    assert [(done, total) for done, total, _ in reports] == [(10.0, 30.0), (20.0, 30.0), (30.0, 30.0)]
    assert reports[0][2][0].speaker == "Agent" and stages[-1] == (30.0, 30.0)


def test_a_mono_recording_cannot_be_split(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="this one has 1"):
        decode_channels(tone_file(tmp_path / "mono.wav", 1), (), lambda *args: heard_as("x", 0), print, print)


def test_diarized_speakers_keep_their_channel_and_the_longest_speaker_names_the_language() -> None:
    english = heard_as("hello", 0.0, "en", speaker="SPEAKER_00")
    german = Transcript("hallo", "de", 12.0, (Segment(0.0, 9.0, " hallo"),))
    joined = merged([english, german])
    assert (joined.language, joined.duration_s) == ("de", 12.0)
    assert channel_label(("A",), 0) == "A" and channel_label(("A",), 3) == "channel 3"


def test_the_languages_are_the_shares_of_all_the_channels_speech() -> None:
    english = replace(heard_as("hello", 0.0, "en"), languages=(LanguageShare("en", 1.0),))
    both = (LanguageShare("de", 2 / 3), LanguageShare("en", 1 / 3))
    mixed = Transcript("hallo hello", "de", 12.0, (Segment(0.0, 9.0, "hallo hello"),), languages=both)
    joined = merged([english, mixed])
    assert joined.languages == (LanguageShare("de", 0.6), LanguageShare("en", 0.4))
    assert joined.language == "de"
