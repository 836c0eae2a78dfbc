from __future__ import annotations

import base64

import pytest

from decoder.wire.options import Diarization, KnownSpeaker
from whisper_api.jobs.errors import Refused
from whisper_api.jobs.intake.speaker_options import (
    MAX_KNOWN_SPEAKERS,
    MAX_REFERENCE_BYTES,
    MAX_SPEAKERS,
    NAMES_FIELD,
    REFERENCES_FIELD,
    diarization_options,
)

CLIP = "data:audio/wav;base64," + base64.b64encode(b"RIFF....WAVE").decode()


def test_nothing_asked_is_no_diarization() -> None:
    assert diarization_options({}, wanted=False) is None


def test_counts_become_bounds() -> None:
    assert diarization_options({}, wanted=True) == Diarization()
    assert diarization_options({"num_speakers": "2"}, wanted=True) == Diarization(2, 2)
    assert diarization_options({"min_speakers": "2", "max_speakers": "4"}, wanted=True) == Diarization(2, 4)
    assert diarization_options({"max_speakers": str(MAX_SPEAKERS)}, wanted=True) == Diarization(
        None, MAX_SPEAKERS
    )


def test_known_speakers_pair_names_with_clips_that_a_repeated_field_joined() -> None:
    # Repeated form fields arrive joined by commas (whisper_api.api.uploads); a data URL holds one.
    fields = {NAMES_FIELD: "Ann,Bob", REFERENCES_FIELD: f"{CLIP},{CLIP}"}
    chosen = diarization_options(fields, wanted=True)
    assert chosen == Diarization(known=(KnownSpeaker("Ann", CLIP), KnownSpeaker("Bob", CLIP)))


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"num_speakers": "2"}, "num_speakers"),
        ({NAMES_FIELD: "Ann", REFERENCES_FIELD: CLIP}, "known_speakers"),
    ],
)
def test_speaker_fields_without_diarize_are_refused(fields: dict[str, str], param: str) -> None:
    with pytest.raises(Refused, match="needs diarize") as caught:
        diarization_options(fields, wanted=False)
    assert caught.value.param == param


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"num_speakers": "0"}, "num_speakers"),
        ({"max_speakers": str(MAX_SPEAKERS + 1)}, "max_speakers"),
        ({"min_speakers": "two"}, "min_speakers"),
        ({"min_speakers": "3", "max_speakers": "2"}, "min_speakers"),
        ({"num_speakers": "2", "min_speakers": "2"}, "num_speakers"),
        ({NAMES_FIELD: "Ann,Bob", REFERENCES_FIELD: CLIP}, "known_speaker_names"),
        ({NAMES_FIELD: "Ann,Ann", REFERENCES_FIELD: f"{CLIP},{CLIP}"}, "known_speaker_names"),
        ({NAMES_FIELD: "A" * 65, REFERENCES_FIELD: CLIP}, "known_speaker_names"),
        ({NAMES_FIELD: "\u200b", REFERENCES_FIELD: CLIP}, "known_speaker_names"),
        ({NAMES_FIELD: "Ann\u0007", REFERENCES_FIELD: CLIP}, "known_speaker_names"),
        (
            {
                NAMES_FIELD: ",".join(f"P{i}" for i in range(MAX_KNOWN_SPEAKERS + 1)),
                REFERENCES_FIELD: ",".join([CLIP] * (MAX_KNOWN_SPEAKERS + 1)),
            },
            "known_speaker_names",
        ),
        (
            {NAMES_FIELD: "Ann,Bob", REFERENCES_FIELD: f"{CLIP},{CLIP}", "max_speakers": "1"},
            "known_speaker_names",
        ),
        ({NAMES_FIELD: "Ann", REFERENCES_FIELD: "https://example.com/ann.wav"}, "known_speaker_references"),
        ({NAMES_FIELD: "Ann", REFERENCES_FIELD: "data:audio/wav;base64,abc"}, "known_speaker_references"),
        ({NAMES_FIELD: "Ann", REFERENCES_FIELD: "data:audio/wav;base64,"}, "known_speaker_references"),
        (
            {
                NAMES_FIELD: "Ann",
                REFERENCES_FIELD: "data:audio/wav;base64,"
                + base64.b64encode(bytes(MAX_REFERENCE_BYTES + 1)).decode(),
            },
            "known_speaker_references",
        ),
    ],
)
def test_bad_speaker_fields_are_refused_naming_the_field(fields: dict[str, str], param: str) -> None:
    with pytest.raises(Refused) as caught:
        diarization_options(fields, wanted=True)
    assert caught.value.param == param
