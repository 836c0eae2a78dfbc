from __future__ import annotations

import whisper.tokenizer

from decoder.process.languages import LANGUAGES


def test_the_table_is_openai_whispers_own() -> None:
    assert tuple(whisper.tokenizer.LANGUAGES.items()) == LANGUAGES
