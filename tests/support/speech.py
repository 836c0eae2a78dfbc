"""Test speech: known English paragraphs spoken by espeak-ng, and word error rate against them."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jiwer

# Paragraphs of 4 sentences: tiny.en scored WER 0.00-0.04 on each when they were chosen; single
# short sentences are unreliable (0.2-0.4), and numbers come back as digits, so none are used.
PARAGRAPHS = (
    "Learning a new language takes time and patience. It helps to practice a little every day "
    "instead of studying for hours once a week. Listening to music and watching films can also "
    "make learning more fun. Most importantly, do not be afraid to make mistakes.",
    "The city council met on Monday to discuss the new park. Many residents want more trees, "
    "benches and a place for children to play. Others are worried about the cost and the noise. "
    "The council will make a final decision next month.",
    "My grandmother lives in a small house near the sea. Every summer we visit her and stay for a "
    "few weeks. She loves to cook fish and tell stories about her childhood. In the evenings we "
    "walk along the beach and watch the sunset.",
    "Every morning the baker opens his shop before the sun comes up. He makes fresh bread, rolls "
    "and sweet cakes for the people of the town. His wife helps him at the counter and talks with "
    "the customers. On Sundays the shop is closed and the family goes for a long walk.",
)

# Other languages, for the multilingual base model (Spanish and German espeak-ng voices are
# detected reliably; its French is not). Base scored WER 0.11 on the Spanish one.
SPANISH = (
    "Todos los sábados por la mañana vamos al mercado para comprar fruta y pan. Mi madre siempre "
    "habla con los vendedores y conoce a muchos de ellos. Después tomamos un café en una pequeña "
    "plaza cerca de la iglesia. Por la tarde volvemos a casa y preparamos la comida para toda la familia."
)
GERMAN = (
    "Jeden Morgen fahre ich mit dem Fahrrad zur Arbeit. Der Weg führt durch einen kleinen Park und "
    "an einem See vorbei. Im Sommer sehe ich oft Enten und Kinder, die am Wasser spielen. Am Abend "
    "fahre ich denselben Weg wieder nach Hause."
)

# Voices for clips that must differ from each other (`en-gb+f3` would silently be plain `en-gb`).
VOICES = ("en-us", "en+f3")
SPEEDS = (150, 135, 165)


def speak(text: str, path: Path, words_per_minute: int = 150, voice: str = VOICES[0]) -> Path:
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    return path


def short_clips(directory: Path, count: int) -> list[tuple[Path, str]]:
    """`count` short clips (5-10 s; two sentences of a paragraph each) and their texts, in as
    many voices and speeds as it takes for no two of the first 48 to sound alike."""
    sentences = [
        sentence.strip() + "." for text in PARAGRAPHS for sentence in text.split(".") if sentence.strip()
    ]
    pairs = [" ".join(sentences[index : index + 2]) for index in range(0, len(sentences), 2)]
    clips = []
    for index in range(count):
        text, variant = pairs[index % len(pairs)], index // len(pairs)
        voice, speed = VOICES[variant % len(VOICES)], SPEEDS[variant // len(VOICES) % len(SPEEDS)]
        clips.append((speak(text, directory / f"clip{index}.wav", speed, voice), text))
    return clips


@dataclass(frozen=True)
class Turn:
    voice: str
    text: str
    start: float
    end: float


# The pause between two turns of the dialogue.
TURN_PAUSE_S = 0.4


def dialogue(directory: Path, turns: int = 8) -> tuple[Path, list[Turn]]:
    """Two voices (VOICES) taking turns, two sentences of PARAGRAPHS each (from the first again
    after the last), TURN_PAUSE_S apart: the 16 kHz WAV and each turn's voice, text and times."""
    sentences = [
        sentence.strip() + "." for text in PARAGRAPHS for sentence in text.split(".") if sentence.strip()
    ]
    pause = directory / "pause.wav"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono"),
            *("-t", str(TURN_PAUSE_S), "-c:a", "pcm_s16le", str(pause)),
        ],
        check=True,
    )
    parts: list[Path] = []
    timeline: list[Turn] = []
    at = 0.0
    for index in range(turns):
        pair = 2 * index % len(sentences)
        text, voice = " ".join(sentences[pair : pair + 2]), VOICES[index % 2]
        spoken = speak(text, directory / f"turn{index}.wav", voice=voice)
        length = duration_s(spoken)
        timeline.append(Turn(voice, text, at, at + length))
        parts += [spoken, pause]
        at += length + TURN_PAUSE_S
    return concatenated(parts, directory / "dialogue.wav", "-ar", "16000", "-ac", "1"), timeline


def concatenated(parts: list[Path], output: Path, *encoding: str) -> Path:
    """The recordings one after another in one file (ffmpeg's concat demuxer)."""
    listing = output.with_suffix(".txt")
    listing.write_text("".join(f"file '{part}'\n" for part in parts))
    command = ["ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing), *encoding]
    subprocess.run([*command, str(output)], check=True)
    return output


def duration_s(path: Path) -> float:
    """The file's duration as ffprobe reads it."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(probe.stdout)


def normalise(text: str) -> str:
    # \w: letters of any language (accents included), digits.
    words = re.sub(r"[^\w' ]+|_", " ", text.lower().replace("-", " "))
    return " ".join(words.split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalise(reference), normalise(hypothesis)))


def words_missed(reference: str, hypothesis: str) -> float:
    """The share of the reference's words that the hypothesis misses or gets wrong: the word error
    rate without the words it adds."""
    measured = jiwer.process_words(normalise(reference), normalise(hypothesis))
    return (measured.substitutions + measured.deletions) / (
        measured.hits + measured.substitutions + measured.deletions
    )
