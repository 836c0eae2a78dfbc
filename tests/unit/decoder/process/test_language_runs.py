"""Decoding run by run: each run is the part of the file it covers, decoded in its language, and
its segments come back on the recording's clock, in its language, progress included."""

from __future__ import annotations

from dataclasses import replace

from decoder.audio.ffmpeg import AudioFile
from decoder.engines.base import ProgressCallback
from decoder.process.language_map import LanguageMap, LanguageRun
from decoder.process.language_runs import decode_runs, in_language, in_one_language
from decoder.wire.transcript import LanguageShare, Segment, Transcript, Word

AUDIO = AudioFile("/recording.wav", "wav", 60)
MIXED = LanguageMap(
    (
        LanguageRun("en", 0.0, 10.5, 8.0),
        LanguageRun("es", 10.5, 30.25, 14.0),
        LanguageRun("en", 30.25, None, 10.0),
    ),
    40.0,
)


class Decoder:
    """Hears every part as one segment from 1 s to 2 s past its end, and one word in it."""

    def __init__(self) -> None:
        self.parts: list[tuple[AudioFile, str]] = []
        self.reports: list[tuple[float, float, tuple[Segment, ...]]] = []

    def __call__(self, part: AudioFile, language: str, progress: ProgressCallback) -> Transcript:
        self.parts.append((part, language))
        length = (part.end_s or 40.0) - part.start_s
        segment = Segment(1.0, length + 2, f" said in {language}", (Word(1.0, 1.5, " said", 0.9),))
        progress(length / 2, length, (segment,))
        progress(length, length, ())
        # The text as an engine joins it, which need not be its segments' joined with spaces.
        return Transcript(f"said-in-{language}", language, length, (segment,))

    def report(self, decoded: float, total: float, segments: tuple[Segment, ...]) -> None:
        self.reports.append((decoded, total, segments))


def test_each_run_is_its_part_decoded_in_its_language() -> None:
    decoder = Decoder()
    transcript = decode_runs(AUDIO, MIXED, decoder, decoder.report)
    assert decoder.parts == [
        (replace(AUDIO, start_s=0.0, end_s=10.5), "en"),
        (replace(AUDIO, start_s=10.5, end_s=30.25), "es"),
        (replace(AUDIO, start_s=30.25, end_s=None), "en"),
    ]
    assert [(segment.start, segment.end, segment.language) for segment in transcript.segments] == [
        (1.0, 10.5, "en"),
        (11.5, 30.25, "es"),
        (31.25, 42.0, "en"),
    ], "on the recording's clock, within the run (the last run reaches to the end)"
    assert [segment.words[0].start for segment in transcript.segments] == [1.0, 11.5, 31.25]
    assert transcript.text == "said-in-en said-in-es said-in-en"
    assert transcript.language == "en"
    assert transcript.languages == (LanguageShare("en", 0.5625), LanguageShare("es", 0.4375))
    assert transcript.duration_s == 40.0


def test_progress_is_the_runs_together_on_the_recordings_clock() -> None:
    decoder = Decoder()
    decode_runs(AUDIO, MIXED, decoder, decoder.report)
    assert [(decoded, total) for decoded, total, _ in decoder.reports] == [
        (5.25, 40.0),
        (10.5, 40.0),
        (10.5 + 9.875, 40.0),
        (30.25, 40.0),
        (35.125, 40.0),
        (40.0, 40.0),
    ]
    reported = [segment for _, _, segments in decoder.reports for segment in segments]
    assert [(segment.start, segment.language) for segment in reported] == [
        (1.0, "en"),
        (11.5, "es"),
        (31.25, "en"),
    ]


def test_one_run_is_the_whole_file_decoded_as_it_is() -> None:
    decoder = Decoder()
    heard = LanguageMap((LanguageRun("de", 0.0, None, 20.0),), 40.0)
    transcript = decode_runs(AUDIO, heard, decoder, decoder.report)
    assert decoder.parts == [(AUDIO, "de")]
    assert transcript.text == "said-in-de"
    assert transcript.languages == (LanguageShare("de", 1.0),)
    assert [segment.language for segment in transcript.segments] == ["de"]
    assert [segment.language for _, _, segments in decoder.reports for segment in segments] == ["de"]


def test_a_transcript_in_one_language_says_so_where_it_holds_speech() -> None:
    segment = Segment(0.0, 1.0, "hallo")
    spoken = in_one_language(Transcript("hallo", "de", 1.0, (segment,)))
    assert spoken.segments == (replace(segment, language="de"),)
    assert spoken.languages == (LanguageShare("de", 1.0),)
    assert in_one_language(Transcript("", "de", 1.0, ())).languages == ()
    reports: list[tuple[Segment, ...]] = []
    in_language("fr", lambda decoded, total, segments: reports.append(segments))(0.5, 1.0, (segment,))
    assert reports == [(replace(segment, language="fr"),)]
