from __future__ import annotations

from whisper_api.srt import format_srt, srt_timestamp


def test_timestamps() -> None:
    assert srt_timestamp(0) == "00:00:00,000"
    assert srt_timestamp(3.6) == "00:00:03,600"
    assert srt_timestamp(3725.0429) == "01:02:05,043"
    assert srt_timestamp(-1) == "00:00:00,000"


def test_cues_are_numbered_and_separated() -> None:
    text = format_srt([(0.0, 2.5, " Hello there. "), (2.5, 5.0, "A --> B")])
    assert (
        text == "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n00:00:02,500 --> 00:00:05,000\nA -> B\n"
    )


def test_no_segments_is_empty() -> None:
    assert format_srt([]) == ""
