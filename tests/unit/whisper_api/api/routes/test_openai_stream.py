"""The text of a streamed transcription, put together from numbered segments."""

from __future__ import annotations

from whisper_api.api.routes.openai_stream import StreamedText


def test_deltas_follow_the_segments_order_and_join_as_the_whole_does() -> None:
    text = StreamedText()
    assert text.add(0, ["Hello there."]) == "Hello there."
    # Segment 2 came before 1: it waits, so that the text sent stays a prefix of the whole.
    assert text.add(2, ["Bye."]) == ""
    assert text.add(1, ["How are you?"]) == " How are you? Bye."
    assert text.add(0, ["Hello there."]) == "", "a segment heard twice is sent once"
    assert text.add(3, ["", "Again."]) == " Again.", "an empty segment adds nothing"
    assert text.sent == StreamedText.whole(["Hello there.", "How are you?", "Bye.", "", "Again."])


def test_spaces_do_not_matter_so_a_split_segment_joins_the_same() -> None:
    text = StreamedText()
    assert text.add(0, [" Hello there,", "  how are you?"]) == "Hello there, how are you?"
    # The same words in the segments a speaker change split them into.
    assert StreamedText.whole([" Hello", " there, how", " are you? "]) == text.sent
