from __future__ import annotations

import pytest

from decoder.wire.transcript import Segment, Transcript, Word
from whisper_api.outputs.speaker_names import BadNames, renamed

WORDS = (Word(0.0, 0.5, " Hi", 0.9, "SPEAKER_00"), Word(1.0, 1.5, " there", 0.8, "SPEAKER_01"))
TRANSCRIPT = Transcript(
    "Hi there",
    "en",
    2.0,
    (
        Segment(0.0, 0.5, " Hi", WORDS[:1], speaker="SPEAKER_00"),
        Segment(1.0, 1.5, " there", WORDS[1:], speaker="SPEAKER_01"),
    ),
    speakers=("SPEAKER_00", "SPEAKER_01"),
)


def test_a_renamed_speaker_is_renamed_on_segments_words_and_the_list() -> None:
    named = renamed(TRANSCRIPT, {"SPEAKER_01": "  Bob \n Smith "})
    assert named.speakers == ("SPEAKER_00", "Bob Smith")
    assert [segment.speaker for segment in named.segments] == ["SPEAKER_00", "Bob Smith"]
    assert [word.speaker for segment in named.segments for word in segment.words] == [
        "SPEAKER_00",
        "Bob Smith",
    ]
    assert named.text == TRANSCRIPT.text


@pytest.mark.parametrize(
    ("names", "reason"),
    [
        ({"SPEAKER_02": "Eve"}, "no speaker"),
        ({"SPEAKER_00": "SPEAKER_01"}, "same name"),
        ({"SPEAKER_00": "  "}, "1 to 64"),
        ({"SPEAKER_00": "x" * 65}, "1 to 64"),
        ({"SPEAKER_00": "\u200b"}, "printable"),
        ({"SPEAKER_00": "Ann\u202e"}, "printable"),
    ],
)
def test_a_renaming_that_cannot_apply_says_why(names: dict[str, str], reason: str) -> None:
    with pytest.raises(BadNames, match=reason):
        renamed(TRANSCRIPT, names)
