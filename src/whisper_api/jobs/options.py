"""Decoding options from form fields, checked once for both the job API and the OpenAI API."""

from __future__ import annotations

from collections.abc import Mapping

from decoder.protocol import DecodeOptions, DecoderReady, TaskType
from whisper_api.jobs.errors import Refused

MAX_PROMPT_CHARS = 4096
MAX_BEAM_SIZE = 10
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


def decode_options(fields: Mapping[str, str], ready: DecoderReady) -> DecodeOptions:
    """DecodeOptions from the fields initial_prompt (or prompt), temperature, beam_size,
    word_timestamps, vad_filter and model; a bad value or combination is a Refused naming the field."""
    prompt = fields.get("initial_prompt") or fields.get("prompt") or None
    if prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
        raise Refused(f"the prompt is longer than {MAX_PROMPT_CHARS} characters")
    temperature = _number(fields, "temperature", 0.0, 1.0)
    beam_size = _whole(fields, "beam_size", 1, MAX_BEAM_SIZE)
    if beam_size is not None and temperature not in (None, 0.0):
        raise Refused("beam_size works with temperature 0 only: beam search does not sample")
    return DecodeOptions(
        initial_prompt=prompt,
        temperature=temperature,
        beam_size=beam_size,
        word_timestamps=parse_flag(fields, "word_timestamps"),
        vad_filter=parse_flag(fields, "vad_filter"),
        model=check_model(fields.get("model") or None, ready),
    )


def check_model(name: str | None, ready: DecoderReady) -> str | None:
    """An available model name, or None for the server's own choice."""
    if name is None or name == ready.max_model_to_use:
        return None
    if name not in ready.available_models:
        raise Refused(
            f"model {name!r} is not available here; choose one of {', '.join(ready.available_models)}"
        )
    return name


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


def check_language(raw: str | None, ready: DecoderReady) -> str | None:
    """The language code for a code or English name, None for auto-detection."""
    if raw is None or not raw.strip():
        return None
    wanted = raw.strip().lower()
    names = {name: code for code, name in ready.languages}
    code = wanted if wanted in dict(ready.languages) else names.get(wanted)
    if code is None:
        raise Refused(f"unknown language {raw!r}: use a code such as 'en' or 'de', or leave it out")
    if ready.english_only and code != "en":
        raise Refused(
            f"the model {ready.max_model_to_use} is English-only: language {code!r} needs a "
            "multilingual model (set MAX_MODEL to a name without '.en')"
        )
    return code


def offered_languages(ready: DecoderReady) -> tuple[tuple[str, str], ...]:
    """The (code, English name) pairs a task may name: English alone on an English-only model."""
    if ready.english_only:
        return tuple(pair for pair in ready.languages if pair[0] == "en") or (("en", "english"),)
    return ready.languages


def offered_tasks(ready: DecoderReady) -> tuple[TaskType, ...]:
    """What the model does: an English-only one transcribes (its "translation" is the same text)."""
    return ("transcribe",) if ready.english_only else ("transcribe", "translate")
