"""Decoding options from form fields, checked once for both the job API and the OpenAI API."""

from __future__ import annotations

from collections.abc import Mapping

from decoder.wire.models import MODELS
from decoder.wire.options import (
    CHANNEL_MODES,
    MAX_SPLIT_CHANNELS,
    MIN_SPLIT_CHANNELS,
    SPLIT_CHANNELS,
    DecodeOptions,
)
from decoder.wire.protocol import DecoderReady, TaskType
from whisper_api.jobs.errors import Refused
from whisper_api.jobs.intake.speaker_options import diarization_options

MAX_PROMPT_CHARS = 4096
MAX_CHANNEL_NAME = 40
# The fields of channels=split, which every API takes.
CHANNEL_FIELDS = ("channels", "channel_names")
MAX_BEAM_SIZE = 10
# The lowest logprob_threshold taken: an average log probability below it is no text at all.
MAX_LOGPROB = 20.0
# Whisper's silence gate, which every API takes as fields of its own.
THRESHOLD_FIELDS = ("no_speech_threshold", "logprob_threshold")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


def decode_options(fields: Mapping[str, str], ready: DecoderReady, *, diarize: bool = False) -> DecodeOptions:
    """DecodeOptions from the fields initial_prompt (or prompt), temperature, beam_size,
    word_timestamps, vad_filter, model, no_speech_threshold, logprob_threshold, channels,
    channel_names and the speaker fields (whisper_api.jobs.intake.speaker_options; `diarize`:
    the API asks for speakers anyway); a bad value or combination is a Refused naming the field."""
    prompt = fields.get("initial_prompt") or fields.get("prompt") or None
    if prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
        raise Refused(f"the prompt is longer than {MAX_PROMPT_CHARS} characters")
    temperature = _number(fields, "temperature", 0.0, 1.0)
    beam_size = _whole(fields, "beam_size", 1, MAX_BEAM_SIZE)
    if beam_size is not None and temperature not in (None, 0.0):
        raise Refused("beam_size works with temperature 0 only: beam search does not sample")
    diarization = diarization_options(fields, diarize or parse_flag(fields, "diarize"))
    if diarization is not None and not ready.labels_speakers:
        raise Refused(
            "this server cannot label speakers: its MODEL_DIR has no speaker encoder "
            "(install resemblyzer and run `whisper-api ensure-model`)",
            param="diarize",
        )
    return DecodeOptions(
        no_speech_threshold=_number(fields, THRESHOLD_FIELDS[0], 0.0, 1.0),
        logprob_threshold=_number(fields, THRESHOLD_FIELDS[1], -MAX_LOGPROB, 0.0),
        initial_prompt=prompt,
        temperature=temperature,
        beam_size=beam_size,
        # Speakers are told apart word by word.
        word_timestamps=parse_flag(fields, "word_timestamps") or diarization is not None,
        vad_filter=parse_flag(fields, "vad_filter"),
        model=check_model(fields.get("model") or None, ready),
        diarization=diarization,
        channels=_choice(fields, "channels", CHANNEL_MODES),
        channel_names=_channel_names(fields),
    )


def check_channels(options: DecodeOptions, channels: int) -> None:
    """Refuse channels=split for a recording without 2 to MAX_SPLIT_CHANNELS channels, or with
    fewer channels than channel_names names."""
    if options.channels != SPLIT_CHANNELS:
        return
    if not MIN_SPLIT_CHANNELS <= channels <= MAX_SPLIT_CHANNELS:
        raise Refused(
            f"channels=split decodes each channel of a recording of {MIN_SPLIT_CHANNELS} to "
            f"{MAX_SPLIT_CHANNELS} channels on its own; this one has {channels}",
            param="channels",
        )
    if len(options.channel_names) > channels:
        raise Refused(
            f"channel_names names {len(options.channel_names)} channels; the recording has {channels}",
            param="channel_names",
        )


def _choice(fields: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = fields.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise Refused(f"{name} must be one of {', '.join(choices)}", param=name)
    return value


def _channel_names(fields: Mapping[str, str]) -> tuple[str, ...]:
    """channel_names: comma-separated names of the channels in order (channels=split only)."""
    raw = fields.get("channel_names", "").strip()
    if not raw:
        return ()
    names = tuple(name.strip() for name in raw.split(","))
    if fields.get("channels", "").strip().lower() != SPLIT_CHANNELS:
        raise Refused("channel_names names the channels of channels=split", param="channel_names")
    if len(names) > MAX_SPLIT_CHANNELS or not all(0 < len(name) <= MAX_CHANNEL_NAME for name in names):
        raise Refused(
            f"channel_names must be at most {MAX_SPLIT_CHANNELS} names of 1 to {MAX_CHANNEL_NAME} "
            "characters, comma-separated",
            param="channel_names",
        )
    return names


def check_model(name: str | None, ready: DecoderReady) -> str | None:
    """An available model name, or None for the server's own choice."""
    if name is None or name == ready.max_model_to_use:
        return None
    if name not in ready.available_models:
        raise Refused(
            f"model {name!r} is not available here; choose one of {', '.join(ready.available_models)}"
        )
    return name


def model_in_use(ready: DecoderReady, model: str | None) -> str:
    """The model a task runs: the one it asked for (check_model), else the server's own."""
    return model or ready.max_model_to_use


def is_english_only(ready: DecoderReady, model: str | None) -> bool:
    return MODELS[model_in_use(ready, model)].english_only


def multilingual_models(ready: DecoderReady) -> tuple[str, ...]:
    """The available models that tell languages apart, smallest first."""
    return tuple(name for name in ready.available_models if not MODELS[name].english_only)


def detection_model(name: str | None, ready: DecoderReady) -> str | None:
    """The model that hears a recording's language: the one asked for (refused where it is
    English-only), else the server's own where it is multilingual, else the largest
    multilingual one available (None where there is none: English speaks for itself)."""
    if name is not None:
        chosen = check_model(name, ready)
        if is_english_only(ready, chosen):
            raise Refused(f"the model {name} is English-only and cannot tell languages apart", param="model")
        return chosen
    if not ready.english_only:
        return None
    others = multilingual_models(ready)
    return others[-1] if others else None


def parse_flag(fields: Mapping[str, str], name: str) -> bool:
    value = fields.get(name, "").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise Refused(f"{name} must be true or false", param=name)


def _number(fields: Mapping[str, str], name: str, low: float, high: float) -> float | None:
    raw = fields.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also refuses NaN
        raise Refused(f"{name} must be a number from {low:g} to {high:g}")
    return value


def _whole(fields: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = fields.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise Refused(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def check_language(raw: str | None, ready: DecoderReady, model: str | None = None) -> str | None:
    """The language code for a code or English name, None for auto-detection; `model`: the one
    the task asked for (None: the server's own)."""
    if raw is None or not raw.strip():
        return None
    wanted = raw.strip().lower()
    names = {name: code for code, name in ready.languages}
    code = wanted if wanted in dict(ready.languages) else names.get(wanted)
    if code is None:
        raise Refused(f"unknown language {raw!r}: use a code such as 'en' or 'de', or leave it out")
    name = model_in_use(ready, model)
    if is_english_only(ready, model) and code != "en":
        others = multilingual_models(ready)
        fix = f"ask for model {others[-1]}" if others else "set MAX_MODEL to a name without '.en'"
        needs = f"language {code!r} needs a multilingual model ({fix})"
        raise Refused(f"the model {name} is English-only: {needs}")
    return code


def offered_languages(ready: DecoderReady, model: str | None = None) -> tuple[tuple[str, str], ...]:
    """The (code, English name) pairs a task may name with `model` (None: the server's own):
    English alone on an English-only model."""
    if is_english_only(ready, model):
        return tuple(pair for pair in ready.languages if pair[0] == "en") or (("en", "english"),)
    return ready.languages


def offered_tasks(ready: DecoderReady, model: str | None = None) -> tuple[TaskType, ...]:
    """What the model does: an English-only one transcribes (its "translation" is the same text)."""
    return ("transcribe",) if is_english_only(ready, model) else ("transcribe", "translate")
