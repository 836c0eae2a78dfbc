"""Other languages on the real multilingual base model, through the real server, with each engine:
detection (over windows, past a silent or tone opening), transcripts and translation, the
silence gate as per-task options, and a task's own choice of model."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import DECODE_DEADLINE_S, RunningServer, start_server, wait_for_task
from tests.support.speech import (
    GERMAN,
    PARAGRAPHS,
    SPANISH,
    concatenated,
    duration_s,
    normalise,
    speak,
    word_error_rate,
    words_missed,
)

pytestmark = pytest.mark.slow

# Words the English translation of the Spanish paragraph carries (base on espeak-ng: "...go to
# the market to buy fruit and bread...").
TRANSLATED_WORDS = ("market", "fruit", "bread")
# The opening before the speech, longer than the 30 s that Whisper detects from.
OPENING_S = 40


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("languages")
    spanish = speak(SPANISH, directory / "spanish.wav", 140, "es")
    openings = {
        "silence": ["-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono"],
        "tone": ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050"],
    }
    made = {"spanish": spanish, "german": speak(GERMAN, directory / "german.wav", 140, "de")}
    for name, source in openings.items():
        opening = directory / f"{name}.wav"
        command = ["ffmpeg", "-v", "error", *source, "-t", str(OPENING_S), "-ac", "1", "-c:a", "pcm_s16le"]
        subprocess.run([*command, str(opening)], check=True)
        made[f"{name} first"] = concatenated([opening, spanish], directory / f"{name}-first.wav")
    made["english"] = speak(PARAGRAPHS[0], directory / "english.wav")
    parts = [made[language] for language in ("english", "spanish", "german")]
    made["three languages"] = concatenated(parts, directory / "three-languages.wav")
    return made


@pytest.fixture(scope="module", params=["openai-whisper", "faster-whisper"])
def base_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, multilingual_model_dir: Path
) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("base-server"), multilingual_model_dir, MAX_MODEL="base", ENGINE=request.param
    )
    yield running
    running.stop()


def submit(client: httpx.Client, path: Path, route: str = "transcribe", **fields: str) -> dict[str, Any]:
    with path.open("rb") as audio:
        answer = client.post(f"/api/v1/{route}", files={"file": (path.name, audio)}, data=fields)
    assert answer.status_code == 200, answer.text
    return wait_for_task(client, answer.json()["task_id"])


def detect(client: httpx.Client, path: Path, **fields: str) -> httpx.Response:
    with path.open("rb") as audio:
        return client.post("/api/v1/detect-language", files={"file": (path.name, audio)}, data=fields)


def test_spanish_is_detected_transcribed_and_translated(
    base_server: RunningServer, recordings: dict[str, Path]
) -> None:
    with base_server.client() as client:
        detected = detect(client, recordings["spanish"])
        assert detected.status_code == 200, detected.text
        body = detected.json()
        assert body["language"] == "es" and body["probability"] > 0.5, body
        assert body["languages"][0] == {"code": "es", "name": "spanish", "probability": body["probability"]}
        assert len(body["languages"]) > 1 and body["windows"] >= 1

        transcribed = submit(client, recordings["spanish"])
        assert transcribed["status"] == "finished" and transcribed["source_language"] == "es", transcribed
        assert word_error_rate(SPANISH, transcribed["transcript"]) <= 0.25, transcribed["transcript"]
        task_id = transcribed["task_id"]
        # Every format carries the Spanish text as it is (accents included).
        for output in ("srt", "vtt", "txt", "tsv", "json"):
            rendered = client.get(f"/api/v1/tasks/{task_id}/result", params={"format": output})
            assert rendered.status_code == 200 and "iglesia" in rendered.text, (output, rendered.text)
        accented = {word for word in normalise(transcribed["transcript"]).split() if not word.isascii()}
        assert accented, transcribed["transcript"]
        srt = normalise(client.get("/api/v1/srt", params={"task_id": task_id}).text)
        assert all(word in srt for word in accented), (accented, srt)

        translated = submit(client, recordings["spanish"], "translate")
        assert translated["status"] == "finished", translated
        english = normalise(translated["transcript"])
        assert all(word in english for word in TRANSLATED_WORDS), english


# The parts of the three-language recording: its language, its file's name in `recordings`, its text.
THREE = (("en", "english", PARAGRAPHS[0]), ("es", "spanish", SPANISH), ("de", "german", GERMAN))
# Words that only the German or the Spanish text holds, that no English rendering of them keeps.
FOREIGN_WORDS = ("jeden", "fahrrad", "wasser", "hause", "mercado", "madre", "iglesia", "familia")
# What an English rendering of the German paragraph may share with its words ("park", "an").
# Base renders it loosely at best, and openai-whisper's fallback samples at random (one run gave
# "even young brother with father is very strong..."), so its sense is not checked.
GERMAN_WORDS_KEPT = 0.25


def by_language(segments: list[dict[str, Any]]) -> dict[str, str]:
    """The text of the segments in each language."""
    texts: dict[str, list[str]] = {}
    for segment in segments:
        texts.setdefault(segment["language"], []).append(segment["text"])
    return {language: " ".join(parts) for language, parts in texts.items()}


def test_a_recording_in_three_languages_comes_back_in_each(
    base_server: RunningServer, recordings: dict[str, Path]
) -> None:
    lengths = {language: duration_s(recordings[name]) for language, name, _ in THREE}
    with base_server.client() as client:
        finished = submit(client, recordings["three languages"])
        assert finished["status"] == "finished", finished
        shares = {heard["language"]: heard["share"] for heard in finished["languages"]}
        assert set(shares) == set(lengths), finished["languages"]
        for language, share in shares.items():
            assert abs(share - lengths[language] / sum(lengths.values())) <= 0.10, finished["languages"]
        assert finished["source_language"] == finished["languages"][0]["language"]
        result = client.get(f"/api/v1/tasks/{finished['task_id']}/result", params={"format": "json"}).json()
        assert result["languages"] == finished["languages"]
        # In the order they are spoken, each in its own language.
        order = [segment["language"] for segment in result["segments"]]
        assert [
            language for index, language in enumerate(order) if order[index - 1 : index] != [language]
        ] == [
            "en",
            "es",
            "de",
        ], order
        texts = by_language(result["segments"])
        for language, _, text in THREE:
            assert word_error_rate(text, texts[language]) <= 0.25, (language, texts[language])
        # Translated through OpenAI's route: every run in English, and verbose_json says which
        # language each segment was spoken in.
        with recordings["three languages"].open("rb") as audio:
            verbose = client.post(
                "/v1/audio/translations",
                files={"file": audio},
                data={"model": "whisper-1", "response_format": "verbose_json"},
                timeout=DECODE_DEADLINE_S,
            )
        assert verbose.status_code == 200, verbose.text
        translated = verbose.json()
        english = normalise(translated["text"])
        assert not [word for word in english.split() if word in FOREIGN_WORDS], english
        texts = {language: normalise(text) for language, text in by_language(translated["segments"]).items()}
        assert word_error_rate(PARAGRAPHS[0], texts["en"]) <= 0.25, texts["en"]
        assert all(word in texts["es"] for word in TRANSLATED_WORDS), texts["es"]
        german = set(normalise(GERMAN).split())
        rendered = texts["de"].split()
        assert len(rendered) >= 3, texts["de"]
        assert sum(word in german for word in rendered) <= GERMAN_WORDS_KEPT * len(rendered), texts["de"]

        # A language named keeps the whole recording in it.
        english_only = submit(client, recordings["three languages"], language="en")
        assert english_only["languages"] == [{"language": "en", "share": 1.0}], english_only
        segments = client.get(
            f"/api/v1/tasks/{english_only['task_id']}/result", params={"format": "json"}
        ).json()
        assert {segment["language"] for segment in segments["segments"]} == {"en"}
        assert words_missed(PARAGRAPHS[0], english_only["transcript"]) <= 0.25, english_only["transcript"]


def test_german_is_detected(base_server: RunningServer, recordings: dict[str, Path]) -> None:
    with base_server.client() as client:
        body = detect(client, recordings["german"]).json()
    assert body["language"] == "de", body


@pytest.mark.parametrize("opening", ["silence first", "tone first"])
def test_detection_looks_past_the_opening(
    base_server: RunningServer, recordings: dict[str, Path], opening: str
) -> None:
    with base_server.client() as client:
        body = detect(client, recordings[opening]).json()
        assert body["language"] == "es" and body["probability"] > 0.5, body
        # A task without a language is decoded in the one heard over the file.
        finished = submit(client, recordings[opening])
    # The opening is no speech, so it is heard in no language.
    assert finished["languages"] == [{"language": "es", "share": 1.0}], finished
    # Decoded as Spanish (an English or translated transcript misses every word). Behind a 40 s
    # tone, base slips on a word or two more than on the bare clip, now and then into English,
    # and makes up a phrase or two over the tone; once, openai-whisper's fallback skipped a
    # sentence and a half ("...comprar fruit & snow una pequeña plaza...", 0.51 missed). Sampled
    # at random, these differ from run to run; made-up words are not counted.
    assert words_missed(SPANISH, finished["transcript"]) <= 0.6, finished["transcript"]


def test_a_task_chooses_its_model(base_server: RunningServer, recordings: dict[str, Path]) -> None:
    with base_server.client() as client:
        english = submit(client, recordings["english"], model="tiny.en")
        assert english["status"] == "finished", english
        assert word_error_rate(PARAGRAPHS[0], english["transcript"]) <= 0.1
        run = client.get(f"/api/v1/tasks/{english['task_id']}").json()
        assert run["used_model_size"] == "tiny.en", run
        spanish = submit(client, recordings["spanish"], model="base", language="es")
        assert client.get(f"/api/v1/tasks/{spanish['task_id']}").json()["used_model_size"] == "base"
        # The page's choices follow the model chosen.
        for model, tasks in (("tiny.en", ["transcribe"]), ("base", ["transcribe", "translate"])):
            offered = client.get("/api/v1/languages", params={"model": model}).json()
            assert offered["tasks"] == tasks and ("es" in str(offered["languages"])) == (model == "base")
        # An English-only model still refuses other languages, and cannot detect one.
        with recordings["spanish"].open("rb") as audio:
            refused = client.post(
                "/api/v1/transcribe", files={"file": audio}, data={"model": "tiny.en", "language": "es"}
            )
        assert refused.status_code == 400 and "English-only" in refused.json()["detail"]
        refused = detect(client, recordings["spanish"], model="tiny.en")
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "model"


def test_the_silence_gate_is_a_per_task_option(
    base_server: RunningServer, recordings: dict[str, Path]
) -> None:
    with base_server.client() as client:
        # Nothing is gated as silence: the German translation comes back whatever the defaults do.
        open_gate = {"no_speech_threshold": "1", "logprob_threshold": "-20"}
        translated = submit(client, recordings["german"], "translate", **open_gate)
        assert translated["status"] == "finished" and translated["transcript"].strip(), translated
        for field, value in (("no_speech_threshold", "1.5"), ("logprob_threshold", "1")):
            with recordings["german"].open("rb") as audio:
                refused = client.post("/api/v1/translate", files={"file": audio}, data={field: value})
            assert refused.status_code == 400 and field in refused.json()["detail"], refused.text
