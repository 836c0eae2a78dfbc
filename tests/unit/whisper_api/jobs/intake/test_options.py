from __future__ import annotations

from dataclasses import replace

import pytest

from decoder.wire.options import DecodeOptions, Diarization
from decoder.wire.protocol import DecoderReady
from whisper_api.jobs.errors import Refused
from whisper_api.jobs.intake.options import check_channels, decode_options

READY = DecoderReady(1, False, "small", False, (("en", "english"),), ("small", "base", "tiny"))


def test_no_fields_leave_everything_to_whisper() -> None:
    assert decode_options({}, READY) == DecodeOptions()


def test_every_option_is_read() -> None:
    options = decode_options(
        {
            "prompt": "Names: Ada.",
            "temperature": "0",
            "beam_size": "5",
            "word_timestamps": "yes",
            "model": "base",
        },
        READY,
    )
    assert options == DecodeOptions("Names: Ada.", 0.0, 5, True, "base")
    assert decode_options({"initial_prompt": "x", "model": "small"}, READY).model is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"temperature": "2"}, "temperature must be a number from 0 to 1"),
        ({"temperature": "nan"}, "temperature must be a number"),
        ({"beam_size": "0"}, "beam_size must be a whole number from 1 to 10"),
        ({"beam_size": "3", "temperature": "0.4"}, "beam_size works with temperature 0 only"),
        ({"word_timestamps": "maybe"}, "word_timestamps must be true or false"),
        ({"model": "large-v3"}, "model 'large-v3' is not available here; choose one of small, base, tiny"),
        ({"prompt": "x" * 5000}, "longer than 4096 characters"),
        ({"channels": "stereo"}, "channels must be one of mix, split"),
        ({"channel_names": "A,B"}, "channel_names names the channels of channels=split"),
        ({"channels": "split", "channel_names": "A,,B"}, "channel_names must be at most 8 names"),
        ({"channels": "split", "channel_names": ",".join("abcdefghi")}, "at most 8 names"),
    ],
)
def test_bad_values_and_combinations_are_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(Refused, match=message):
        decode_options(fields, READY)


def test_speakers_come_with_word_timestamps_where_the_server_has_an_encoder() -> None:
    labelling = replace(READY, labels_speakers=True)
    options = decode_options({"diarize": "true", "max_speakers": "3"}, labelling)
    assert options.diarization == Diarization(None, 3) and options.word_timestamps
    assert decode_options({}, labelling, diarize=True).diarization == Diarization()
    with pytest.raises(Refused, match="no speaker encoder") as caught:
        decode_options({"diarize": "true"}, READY)
    assert caught.value.param == "diarize"


def test_channels_are_split_with_their_names_and_checked_against_the_recording() -> None:
    options = decode_options({"channels": "Split", "channel_names": " Agent , Caller"}, READY)
    assert (options.channels, options.channel_names) == ("split", ("Agent", "Caller"))
    check_channels(options, 2)
    check_channels(decode_options({}, READY), 1)
    with pytest.raises(Refused, match="this one has 1"):
        check_channels(options, 1)
    with pytest.raises(Refused, match="this one has 9"):
        check_channels(options, 9)
    three = decode_options({"channels": "split", "channel_names": "A,B,C"}, READY)
    with pytest.raises(Refused, match="channel_names names 3 channels; the recording has 2"):
        check_channels(three, 2)
