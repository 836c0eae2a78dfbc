"""Where each language is spoken in a recording, heard in one streamed pass, for a task that
names no language on a multilingual model (decoder.process.language_runs decodes by it).

The Silero voice-activity model hears each 32 ms frame as the file streams by. Speech is cut
into pieces at pauses of PAUSE_S (about the pause between two sentences) and at CHUNK_S, and
the pieces are packed into chunks of at most CHUNK_S of speech: the model hears each chunk's
speech once (one pass of its encoder for every 30 s of speech, pauses left out).

Where two chunks in a row are heard in different languages, the change lies in one of them, so
both are heard again piece by piece (pieces shorter than MIN_HEARD_S together with the ones
after them). Consecutive pieces of one language make a run; a run with less than MIN_RUN_S of
speech is taken for a mishearing and joins the larger of its neighbours. A run reaches from
the middle of the pause before its speech to the middle of the pause after it, so together the
runs cover the recording.

Memory: the piece being cut, and the speech of the chunk in hand and the one before it (under
8 MB), whatever the recording's length.

    map_languages(file, model) -> LanguageMap (its runs, its duration, each language's share)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import pairwise

import numpy as np

from decoder.audio.ffmpeg import AudioFile, pcm_stream
from decoder.audio.samples import SAMPLE_RATE, Samples
from decoder.audio.voice_activity import FRAME_SAMPLES, HYSTERESIS, THRESHOLD, SileroStream
from decoder.process.detection import WINDOW_S, LanguageModel
from decoder.wire.transcript import LanguageShare, language_shares

CHUNK_S = WINDOW_S
PAUSE_S = 0.3
MIN_HEARD_S = 2.0
MIN_RUN_S = 4.0


@dataclass(frozen=True)
class LanguageRun:
    """A stretch of the recording in one language: seconds [start_s, end_s) (end_s None: to the
    end of the recording), and the seconds of speech in it."""

    language: str
    start_s: float
    end_s: float | None
    speech_s: float


@dataclass(frozen=True)
class LanguageMap:
    runs: tuple[LanguageRun, ...]
    duration_s: float

    def shares(self) -> tuple[LanguageShare, ...]:
        """Each language's share of the speech, the largest first."""
        totals: dict[str, float] = {}
        for run in self.runs:
            totals[run.language] = totals.get(run.language, 0.0) + run.speech_s
        return language_shares(totals)


@dataclass(frozen=True)
class _Piece:
    """Speech between two pauses: samples [start, end) of the recording."""

    start: int
    end: int
    samples: Samples = field(repr=False)


@dataclass
class _Chunk:
    pieces: list[_Piece]
    language: str = ""
    # Each piece's own language, once the chunk was heard piece by piece.
    heard_apart: list[str] | None = None

    def speech(self) -> int:
        return sum(piece.end - piece.start for piece in self.pieces)

    def languages(self) -> list[str]:
        return self.heard_apart or [self.language] * len(self.pieces)


class _PauseCutter:
    """Pieces of speech from the frames and their probabilities, cut where a pause of PAUSE_S
    begins (a frame under THRESHOLD - HYSTERESIS, and none over THRESHOLD since) and at CHUNK_S."""

    def __init__(self) -> None:
        self._frames = 0
        self._opened: int | None = None
        self._quiet_from: int | None = None
        self._held: list[Samples] = []

    def add(self, frames: Samples, probabilities: Samples) -> Iterator[_Piece]:
        pause = round(PAUSE_S * SAMPLE_RATE / FRAME_SAMPLES)
        longest = CHUNK_S * SAMPLE_RATE // FRAME_SAMPLES
        for frame, probability in zip(frames, probabilities.tolist(), strict=True):
            at = self._frames
            self._frames += 1
            if self._opened is None:
                if probability >= THRESHOLD:
                    self._opened, self._held = at, [frame]
                continue
            self._held.append(frame)
            if probability >= THRESHOLD:
                self._quiet_from = None
            elif probability < THRESHOLD - HYSTERESIS and self._quiet_from is None:
                self._quiet_from = at
            if self._quiet_from is not None and self._frames - self._quiet_from >= pause:
                yield self._cut(self._quiet_from)
            elif self._frames - self._opened >= longest:
                yield self._cut(self._frames)

    def finish(self) -> Iterator[_Piece]:
        if self._opened is not None:
            yield self._cut(self._frames if self._quiet_from is None else self._quiet_from)

    def _cut(self, end: int) -> _Piece:
        assert self._opened is not None
        samples = np.concatenate(self._held[: end - self._opened])
        piece = _Piece(self._opened * FRAME_SAMPLES, end * FRAME_SAMPLES, samples)
        self._opened = self._quiet_from = None
        self._held = []
        return piece


def _chunks(pieces: Iterable[_Piece]) -> Iterator[_Chunk]:
    """The pieces packed into chunks of at most CHUNK_S of speech."""
    most = CHUNK_S * SAMPLE_RATE
    chunk = _Chunk([])
    for piece in pieces:
        if chunk.pieces and chunk.speech() + piece.end - piece.start > most:
            yield chunk
            chunk = _Chunk([])
        chunk.pieces.append(piece)
    if chunk.pieces:
        yield chunk


def _language(model: LanguageModel, pieces: list[_Piece]) -> str:
    probabilities = model(np.concatenate([piece.samples for piece in pieces]))
    return max(probabilities, key=lambda language: probabilities[language])


def _hear_apart(chunk: _Chunk, model: LanguageModel) -> None:
    """Each piece's language: heard in groups of at least MIN_HEARD_S (the last group may be
    shorter, where it is all the chunk has)."""
    if chunk.heard_apart is not None:
        return
    least = MIN_HEARD_S * SAMPLE_RATE
    languages: list[str] = []
    group: list[_Piece] = []
    for index, piece in enumerate(chunk.pieces):
        group.append(piece)
        rest = sum(later.end - later.start for later in chunk.pieces[index + 1 :])
        if (sum(one.end - one.start for one in group) >= least and rest >= least) or rest == 0:
            languages += [_language(model, group)] * len(group)
            group = []
    chunk.heard_apart = languages


def _labelled(
    chunks: Iterable[_Chunk], model: LanguageModel, on_heard: Callable[[float], None]
) -> Iterator[tuple[_Piece, str]]:
    """Every piece with its language (see the module's docstring)."""
    before: _Chunk | None = None
    for chunk in chunks:
        chunk.language = _language(model, chunk.pieces)
        on_heard(chunk.pieces[-1].end / SAMPLE_RATE)
        if before is not None:
            if before.language != chunk.language:
                _hear_apart(before, model)
                _hear_apart(chunk, model)
            yield from zip(before.pieces, before.languages(), strict=True)
        before = chunk
    if before is not None:
        yield from zip(before.pieces, before.languages(), strict=True)


@dataclass
class _Run:
    """A run as it is gathered: its language, its speech's first and last sample, its speech."""

    language: str
    first: int
    last: int
    speech: int


def _joined(runs: Iterable[_Run]) -> list[_Run]:
    """The runs with neighbours of one language made one (into the first of them, which changes)."""
    joined: list[_Run] = []
    for run in runs:
        if joined and joined[-1].language == run.language:
            joined[-1].last, joined[-1].speech = run.last, joined[-1].speech + run.speech
        else:
            joined.append(run)
    return joined


def _runs(labelled: Iterable[tuple[_Piece, str]]) -> list[_Run]:
    return _joined(
        _Run(language, piece.start, piece.end, piece.end - piece.start) for piece, language in labelled
    )


def _smoothed(runs: list[_Run]) -> list[_Run]:
    """The runs with every one under MIN_RUN_S of speech joined to its larger neighbour, and
    neighbours of one language joined."""
    runs = [replace(run) for run in runs]
    while len(runs) > 1:
        index = min(range(len(runs)), key=lambda at: runs[at].speech)
        if runs[index].speech >= MIN_RUN_S * SAMPLE_RATE:
            break
        neighbours = [at for at in (index - 1, index + 1) if 0 <= at < len(runs)]
        into = max(neighbours, key=lambda at: runs[at].speech)
        runs[into].speech += runs[index].speech
        runs[into].first = min(runs[into].first, runs[index].first)
        runs[into].last = max(runs[into].last, runs[index].last)
        del runs[index]
        runs = _joined(runs)
    return runs


def _mapped(runs: list[_Run], samples: int) -> LanguageMap:
    """The runs, each reaching to the middle of the pauses around it."""
    bounds = [0.0, *((before.last + after.first) / 2 / SAMPLE_RATE for before, after in pairwise(runs))]
    ends: list[float | None] = [*bounds[1:], None]
    return LanguageMap(
        tuple(
            LanguageRun(
                run.language,
                round(start, 3),
                None if end is None else round(end, 3),
                run.speech / SAMPLE_RATE,
            )
            for run, start, end in zip(runs, bounds, ends, strict=True)
        ),
        samples / SAMPLE_RATE,
    )


class _Frames:
    """The stream's frames and their speech probabilities; also keeps the first CHUNK_S of the
    recording, to hear a language in where no speech was found."""

    def __init__(self, blocks: Iterable[Samples]) -> None:
        self._blocks = blocks
        self.samples = 0
        self.opening: list[Samples] = []

    def pieces(self) -> Iterator[_Piece]:
        silero, cutter = SileroStream(), _PauseCutter()
        for block in self._blocks:
            if self.samples < CHUNK_S * SAMPLE_RATE:
                self.opening.append(block[: CHUNK_S * SAMPLE_RATE - self.samples])
            self.samples += len(block)
            yield from cutter.add(*silero(block))
        yield from cutter.add(*silero(np.zeros(-self.samples % FRAME_SAMPLES, np.float32)))
        yield from cutter.finish()


def map_blocks(
    blocks: Iterable[Samples], model: LanguageModel, on_heard: Callable[[float], None] = lambda _: None
) -> LanguageMap:
    """The languages of a stream of blocks of samples (see the module's docstring); `on_heard`
    hears of each chunk, with the seconds of the recording heard so far, and whatever it raises
    ends the hearing."""
    frames = _Frames(blocks)
    runs = _smoothed(_runs(_labelled(_chunks(frames.pieces()), model, on_heard)))
    if not runs:
        if not frames.samples:
            raise ValueError("the recording holds no audio")
        # No speech the voice-activity model could hear: Whisper's own way, on the opening.
        opening = np.concatenate(frames.opening)
        runs = [_Run(_language(model, [_Piece(0, len(opening), opening)]), 0, 0, 0)]
    return _mapped(runs, frames.samples)


def map_languages(
    file: AudioFile, model: LanguageModel, on_heard: Callable[[float], None] = lambda _: None
) -> LanguageMap:
    """map_blocks() over the file (or the part or the channel of it that `file` names), streamed;
    the read keeps the model's pace, so it is not held to the file's timeout."""
    with pcm_stream(file, timed=False) as blocks:
        return map_blocks(blocks, model, on_heard)
