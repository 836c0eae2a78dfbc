"""Speaker-labelling options from form fields, checked once for every upload API.

    diarize=true                      label who said what (decoder.speakers)
    num_speakers=N                    exactly N speakers; or
    min_speakers=N, max_speakers=M    bounds on how many
    known_speaker_names[]=...         OpenAI's: name the speakers whose voices
    known_speaker_references[]=...    these short clips (base64 data URLs) hold, pairwise

A count or a known speaker without diarize=true is refused rather than ignored. The reference
clips are checked for their form here; whether ffmpeg can read them is the decoder's to say.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

from decoder.wire.options import Diarization, KnownSpeaker
from whisper_api.jobs.errors import Refused
from whisper_api.outputs.speaker_names import MAX_NAME_CHARS, fit_name

MAX_SPEAKERS = 20
# As OpenAI: at most four known speakers, each a clip of a few seconds.
MAX_KNOWN_SPEAKERS = 4
MAX_REFERENCE_BYTES = 512 * 1024
COUNT_FIELDS = ("num_speakers", "min_speakers", "max_speakers")
NAMES_FIELD = "known_speaker_names[]"
REFERENCES_FIELD = "known_speaker_references[]"
SPEAKER_FIELDS = ("diarize", *COUNT_FIELDS, NAMES_FIELD, REFERENCES_FIELD)
# A data URL holds exactly one comma, so those that a repeated field joined part again here.
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)?(;[\w.+-]+=[\w.+-]+)*;base64,([A-Za-z0-9+/=\s]*)")


def diarization_options(fields: Mapping[str, str], wanted: bool) -> Diarization | None:
    """What the fields ask of speakers; `wanted`: the API asked for diarization already (an
    OpenAI diarized_json, or diarize=true). A bad value is a Refused naming the field."""
    counts = {name: _count(fields, name) for name in COUNT_FIELDS}
    known = _known_speakers(fields)
    asked = [name for name, value in counts.items() if value is not None] + (
        ["known speakers"] if known else []
    )
    if not wanted:
        if asked:
            raise Refused(f"{asked[0]} needs diarize=true", param=asked[0].replace(" ", "_"))
        return None
    exact, low, high = counts["num_speakers"], counts["min_speakers"], counts["max_speakers"]
    if exact is not None:
        if low is not None or high is not None:
            raise Refused(
                "num_speakers is exact: leave min_speakers and max_speakers out", param="num_speakers"
            )
        low = high = exact
    if low is not None and high is not None and low > high:
        raise Refused("min_speakers must not be above max_speakers", param="min_speakers")
    if high is not None and len(known) > high:
        raise Refused(f"{len(known)} known speakers are more than max_speakers", param="known_speaker_names")
    return Diarization(min_speakers=low, max_speakers=high, known=known)


def _count(fields: Mapping[str, str], name: str) -> int | None:
    raw = fields.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_SPEAKERS:
        raise Refused(f"{name} must be a whole number from 1 to {MAX_SPEAKERS}", param=name)
    return int(raw)


def _known_speakers(fields: Mapping[str, str]) -> tuple[KnownSpeaker, ...]:
    raw_names = fields.get(NAMES_FIELD, fields.get("known_speaker_names", ""))
    names = [name.strip() for name in raw_names.split(",") if name.strip()]
    raw_references = fields.get(REFERENCES_FIELD, fields.get("known_speaker_references", ""))
    references = [match.group(0) for match in _DATA_URL.finditer(raw_references)]
    leftover = _DATA_URL.sub("", raw_references).replace(",", "").strip()
    if leftover:
        raise Refused(
            "known_speaker_references[] must be data URLs (data:audio/wav;base64,...)",
            param="known_speaker_references",
        )
    if len(names) != len(references):
        raise Refused(
            f"{len(names)} known_speaker_names[] but {len(references)} known_speaker_references[]: "
            "give one clip per name",
            param="known_speaker_names",
        )
    if len(names) > MAX_KNOWN_SPEAKERS:
        raise Refused(f"at most {MAX_KNOWN_SPEAKERS} known speakers", param="known_speaker_names")
    if len(set(names)) != len(names) or not all(fit_name(name) for name in names):
        raise Refused(
            f"known_speaker_names[] must differ from each other, each 1 to {MAX_NAME_CHARS} printable "
            "characters",
            param="known_speaker_names",
        )
    for name, reference in zip(names, references, strict=True):
        _check_clip(name, reference)
    return tuple(KnownSpeaker(name, reference) for name, reference in zip(names, references, strict=True))


def _check_clip(name: str, reference: str) -> None:
    _, _, payload = reference.partition(",")
    try:
        clip = base64.b64decode("".join(payload.split()), validate=True)
    except binascii.Error as exc:
        raise Refused(
            f"the reference clip of {name!r} is not valid base64", param="known_speaker_references"
        ) from exc
    if not clip or len(clip) > MAX_REFERENCE_BYTES:
        raise Refused(
            f"the reference clip of {name!r} must hold 1 to {MAX_REFERENCE_BYTES // 1024} KiB of audio",
            param="known_speaker_references",
        )
