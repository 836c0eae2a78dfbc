"""The benchmark's speech: known English paragraphs spoken by espeak-ng, so that every run
hears the same audio and word error rates can be computed against the text."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.speech import PARAGRAPHS, speak

# More paragraphs in the style of the test ones: everyday words, four sentences, no numbers
# (Whisper writes numbers as digits, which would count as errors against spelled-out text).
MORE_PARAGRAPHS = (
    "The old library stands at the end of a quiet street. Inside, the shelves reach almost to "
    "the ceiling. Children come after school to read comics and do their homework. The "
    "librarian knows every family in the neighbourhood by name.",
    "Our train left the station early in the morning. Outside the window we saw fields, small "
    "villages and a long river. My brother slept for most of the journey. When we arrived, the "
    "air was cold and the sky was clear.",
    "Gardening is a good way to spend a weekend. You can grow tomatoes, beans and fresh herbs "
    "in a small space. Water the plants early in the day when it is still cool. After a few "
    "weeks you will have food for your kitchen.",
    "The museum opened a new exhibition about the history of flight. Visitors can sit inside an "
    "old plane and look at the controls. There are also photos of the first pilots and their "
    "machines. The exhibition will stay open until the end of the year.",
    "Sleep is important for both the body and the mind. Most adults need seven or eight hours "
    "every night. Try to go to bed at the same time each evening. Avoid coffee and bright "
    "screens before you sleep.",
    "The football team trained hard all winter. Their coach wanted them to be faster and "
    "stronger. In the spring they won almost every game. The whole town came to watch the "
    "final match of the season.",
    "A good breakfast gives you energy for the whole morning. Many people like bread with butter "
    "and jam. Others prefer eggs, fruit or a bowl of warm porridge. Whatever you choose, try "
    "not to skip this meal.",
    "The river flows slowly through the centre of the old town. Boats carry tourists past the "
    "churches and the market square. In the summer people sit by the water and eat ice cream. "
    "In the winter the river sometimes freezes.",
    "Writing a letter by hand has become rare. Most people send short messages on their phones "
    "instead. Yet a letter shows that someone took time to think of you. Many people keep old "
    "letters for the rest of their lives.",
    "The farmer wakes up before dawn to feed the animals. He has cows, sheep and a few noisy "
    "chickens. After breakfast he works in the fields until the evening. On market days he sells "
    "milk and cheese in the village.",
    "Learning to swim is useful for children and adults alike. Start in shallow water where you "
    "can stand. Practice floating on your back and moving your arms slowly. With time you will "
    "feel safe and relaxed in the water.",
    "The new bridge connects the two sides of the valley. Before it was built, the trip took "
    "almost an hour by road. Now people can cross in a few minutes by bike or on foot. Everyone "
    "agrees that it has changed their daily lives.",
    "Our neighbour has a small brown dog called Toby. Every evening she takes him for a walk "
    "around the park. Toby likes to chase birds but never catches one. The children on our "
    "street love to play with him.",
    "Cooking at home can save money and time. Plan your meals for the week and make a shopping "
    "list. Buy fresh vegetables and cook simple dishes. Soon you will enjoy trying new recipes "
    "with your friends.",
    "The mountain village is covered in snow for half of the year. Skiers come from far away to "
    "enjoy the slopes. In the evenings they gather by the fire and drink hot chocolate. In the "
    "summer the same hills are green and full of flowers.",
    "Reading the news every day helps you understand the world. Try to read from more than one "
    "source. Ask yourself who wrote the story and why. Good questions are the first step to "
    "clear thinking.",
)

ALL_PARAGRAPHS = (*PARAGRAPHS, *MORE_PARAGRAPHS)
# Short sentences for the queue and memory runs: their transcripts are not scored.
SHORT_SENTENCE = "Please call me back when you have a moment."


@dataclass(frozen=True)
class Recordings:
    paragraphs: tuple[Path, ...]
    # Every paragraph in a row, with short pauses: about five minutes.
    long: Path
    long_text: str
    # The first four paragraphs: about a minute.
    minute: Path
    # One short sentence (about three seconds), queued many times over.
    short: Path


def make_recordings(directory: Path) -> Recordings:
    directory.mkdir(parents=True, exist_ok=True)
    paragraphs = tuple(
        speak(text, directory / f"paragraph{index:02}.wav") for index, text in enumerate(ALL_PARAGRAPHS)
    )
    # A pause between paragraphs, as a speaker would make; espeak-ng writes 22.05 kHz mono.
    pause = directory / "pause.wav"
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono", "-t", "0.8", "-c:a", "pcm_s16le", str(pause))
    return Recordings(
        paragraphs=paragraphs,
        long=_joined(paragraphs, pause, directory / "long.wav"),
        long_text=" ".join(ALL_PARAGRAPHS),
        minute=_joined(paragraphs[: len(PARAGRAPHS)], pause, directory / "minute.wav"),
        short=speak(SHORT_SENTENCE, directory / "short.wav"),
    )


def _joined(parts: tuple[Path, ...], pause: Path, output: Path) -> Path:
    listing = output.with_suffix(".txt")
    listing.write_text("".join(f"file '{path.resolve()}'\nfile '{pause.resolve()}'\n" for path in parts))
    _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-ar", "16000", "-ac", "1", str(output))
    return output


def _ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *arguments], check=True)
