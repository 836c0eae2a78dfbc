"""Live turns on CTranslate2 with the encoder's window cut to the turn.

Whisper's encoder is built for 30 s windows, and most of a short turn's decoding time is spent
encoding the silence that pads it to one. CTranslate2's encoder takes fewer frames: a turn is
encoded with a second of silence after it, rounded up to whole seconds (whisper.cpp's
`audio_ctx` does the same), which cuts a 5 s turn's decoding to about a third with the same
words on this project's test speech. Then one greedy pass without timestamps, and Whisper's
no-speech gate.
"""

from __future__ import annotations

import math

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.feature_extractor import FeatureExtractor
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens

from decoder.audio.samples import SAMPLE_RATE, Samples
from decoder.audio.spectrogram import HOP_LENGTH
from decoder.engines.base import LOW_AVG_LOGPROB, NO_SPEECH_PROB, HeardTurn
from decoder.wire.protocol import WHISPER_WINDOW_S

# Silence heard after the turn, so that the model hears its end.
TAIL_S = 1.0
# The most tokens a turn's text may take (half of Whisper's context, as faster-whisper's default).
MAX_TOKENS = 224
# Whisper's own default list of tokens never to emit (symbols and non-speech annotations).
DEFAULT_SUPPRESSED = (-1,)


def encoder_frames(samples: int) -> int:
    """The mel frames a turn of `samples` is encoded in: with its tail, in whole seconds, at most
    one window."""
    seconds = min(WHISPER_WINDOW_S, math.ceil(samples / SAMPLE_RATE + TAIL_S))
    return int(seconds * SAMPLE_RATE / HOP_LENGTH)


def transcribe_short(
    model: WhisperModel, extractor: FeatureExtractor, audio: Samples, language: str | None, prompt: str | None
) -> HeardTurn:
    frames = encoder_frames(len(audio))
    features = extractor(audio, padding=frames * HOP_LENGTH)[:, :frames]
    encoded = model.encode(np.ascontiguousarray(features))
    multilingual = model.model.is_multilingual
    if language is None:
        language = "en"
        if multilingual:
            ranked = model.model.detect_language(encoded)[0]
            language = ranked[0][0][2:-2]
    tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe", language=language)
    previous = tokenizer.encode(" " + prompt.strip()) if prompt and prompt.strip() else []
    result = model.model.generate(
        encoded,
        [model.get_prompt(tokenizer, previous, without_timestamps=True)],
        beam_size=1,
        max_length=MAX_TOKENS,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, DEFAULT_SUPPRESSED),
    )[0]
    tokens = result.sequences_ids[0]
    # The score is the sum of log-probabilities over the tokens (length penalty 1), as Whisper's
    # average counts the end token too.
    avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
    silent = result.no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOW_AVG_LOGPROB
    return HeardTurn("" if silent else tokenizer.decode(tokens).strip(), language)
