"""Who said what: speaker labels for a finished transcript, from the voices in its audio.

The transcript's word times say where there is speech. Over each stretch of speech (words
less than PAUSE_S apart) windows of WINDOW_S slide by HOP_S; a window never spans a pause, so
it rarely holds two voices. The file is streamed once and the windows cut from it as it goes
(decoder.audio.ffmpeg), so only the embeddings, 1 KB a window, grow with the length. The encoder
(decoder.speakers.encoders) embeds the windows; clustering (decoder.speakers.clustering) says
which share a voice. Each word is given the speaker whose centroid its covering windows are
most alike, and a segment is split where its words' speaker changes.

Known speakers' reference clips are embedded the same way; each is given to the speaker most
like it, where they are alike enough (KNOWN_MATCH). The others are SPEAKER_00, SPEAKER_01, ...
in the order they first speak, with no gaps (a speaker whose windows win no word gets no label),
and never a known speaker's name (a known speaker called SPEAKER_00 makes the first label
SPEAKER_01).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from decoder.audio.ffmpeg import AudioFile, load_audio, pcm_stream
from decoder.audio.samples import SAMPLE_RATE, Samples
from decoder.errors import AudioError, BadReference
from decoder.speakers.base import Embeddings, SpeakerEncoder
from decoder.speakers.clustering import SpeakerBounds, cluster, speaker_centroids
from decoder.wire.options import Diarization, KnownSpeaker
from decoder.wire.transcript import Segment, Transcript, Word

WINDOW_S = 1.0
HOP_S = 0.25
# Words further apart than this are in different stretches of speech.
PAUSE_S = 0.3
# A stretch shorter than this gives no window; its words are labelled from their neighbours.
MIN_WINDOW_S = 0.3
# The least cosine similarity of a reference clip to a speaker's centroid that names them.
KNOWN_MATCH = 0.6
# A pause where the speaker changes: at least this long, and this far below the loudest around it.
MIN_PAUSE_S = 0.1
QUIET_DB = 30.0
# Windows embedded between two progress reports.
REPORT_EVERY = 64
LABEL = "SPEAKER_{:02d}"
# The name of a speaker without a label yet: no client's name (names are printable).
UNLABELLED = "\x00{}"

# (seconds of audio covered, seconds in all)
DiarizeProgress = Callable[[float, float], None]


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2


def speech_stretches(transcript: Transcript) -> list[tuple[float, float]]:
    """The (start, end) of each stretch of speech, from the words' times (segments' without)."""
    times = sorted(
        (word.start, word.end)
        for segment in transcript.segments
        for word in (segment.words or (Word(segment.start, segment.end, segment.text, 1.0),))
        if word.end > word.start
    )
    stretches: list[tuple[float, float]] = []
    for start, end in times:
        if stretches and start - stretches[-1][1] < PAUSE_S:
            stretches[-1] = (stretches[-1][0], max(stretches[-1][1], end))
        else:
            stretches.append((start, end))
    return stretches


def windows_over(stretches: Iterable[tuple[float, float]]) -> list[Window]:
    """Windows of WINDOW_S every HOP_S inside each stretch, ordered by start (and by end)."""
    windows: list[Window] = []
    for start, end in stretches:
        length = end - start
        if length < MIN_WINDOW_S:
            continue
        if length <= WINDOW_S:
            windows.append(Window(start, end))
            continue
        steps = int(np.ceil((length - WINDOW_S) / HOP_S))
        for step in range(steps + 1):
            left = min(start + step * HOP_S, end - WINDOW_S)
            windows.append(Window(left, left + WINDOW_S))
    return windows


def clips_of(blocks: Iterable[Samples], windows: Sequence[Window]) -> Iterator[Samples]:
    """Each window's samples, cut from the stream of blocks as they arrive; what comes before the
    window (which no later one needs) is let go as soon as it is read, pauses of any length too."""
    stream = iter(blocks)
    held = np.zeros(0, np.float32)
    # The sample of the stream that held[0] is.
    offset = 0
    for window in windows:
        start, end = round(window.start * SAMPLE_RATE), round(window.end * SAMPLE_RATE)
        while True:
            dropped = min(max(0, start - offset), len(held))
            held, offset = held[dropped:], offset + dropped
            if offset + len(held) >= end:
                break
            block = next(stream, None)
            if block is None:
                break
            held = np.concatenate([held, block])
        yield held[max(0, start - offset) : max(0, end - offset)].copy()


def diarize(
    file: AudioFile,
    transcript: Transcript,
    request: Diarization,
    encoder: SpeakerEncoder,
    on_progress: DiarizeProgress,
    timeout_s: float,
) -> Transcript:
    """The transcript with a speaker on every segment and word (see the module's docstring)."""
    windows = windows_over(speech_stretches(transcript))
    if not windows:
        return transcript
    rows: list[Embeddings] = []
    loudness = Loudness()
    with pcm_stream(file, timed=False) as blocks:
        clips = clips_of(loudness.measure(blocks), windows)
        for index in itertools.count(0, REPORT_EVERY):
            batch = list(itertools.islice(clips, REPORT_EVERY))
            if not batch:
                break
            rows.append(encoder.embed(batch))
            on_progress(windows[index + len(batch) - 1].end, transcript.duration_s)
    embeddings = np.concatenate(rows)
    labels = cluster(embeddings, SpeakerBounds(request.min_speakers, request.max_speakers))
    centroids = speaker_centroids(embeddings, labels)
    names = _names(centroids, [_reference(known, encoder, timeout_s) for known in request.known], request)
    labelled = label_transcript(transcript, windows, embeddings @ centroids.T, names, loudness)
    return numbered(labelled, {known.name for known in request.known})


class Loudness:
    """The mean square of each 10 ms frame of the stream, taken as it passes: where the pauses are."""

    PER_S = 100
    FRAME = SAMPLE_RATE // PER_S

    def __init__(self) -> None:
        self._frames: list[np.ndarray] = []

    def measure(self, blocks: Iterable[Samples]) -> Iterator[Samples]:
        for block in blocks:
            usable = len(block) // self.FRAME * self.FRAME
            self._frames.append((block[:usable].reshape(-1, self.FRAME) ** 2).mean(axis=1))
            yield block

    def pause_between(self, start: float, end: float) -> tuple[float, float] | None:
        """The longest stretch from `start` to `end` at least QUIET_DB below its loudest, if any."""
        if len(self._frames) != 1:
            self._frames = [np.concatenate(self._frames) if self._frames else np.zeros(0)]
        frames = self._frames[0]
        first, last = int(start * self.PER_S), min(int(end * self.PER_S) + 1, len(frames))
        span = frames[first:last]
        if len(span) < 2:
            return None
        quiet = np.concatenate([[False], span < span.max() * 10 ** (-QUIET_DB / 10), [False]])
        edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
        if not len(edges):
            return None
        runs = edges.reshape(-1, 2)
        begin, stop = runs[int(np.argmax(runs[:, 1] - runs[:, 0]))]
        return (first + begin) / self.PER_S, (first + stop) / self.PER_S


def label_transcript(
    transcript: Transcript,
    windows: Sequence[Window],
    scores: Embeddings,
    names: Sequence[str],
    loudness: Loudness | None = None,
) -> Transcript:
    """Each word (each segment without words) given the speaker that the windows covering its
    middle score highest (the nearest window where none covers it). Where the speaker changes
    between two words, their times are moved to the edges of the pause between them (Whisper's
    word times often stretch over it), and a segment is split."""
    # The windows are ordered by start and by end: those covering a moment are a run of them.
    starts = np.array([window.start for window in windows])
    ends = np.array([window.end for window in windows])
    centres = (starts + ends) / 2

    def speaker_at(moment: float) -> str:
        first, stop = int(np.searchsorted(ends, moment)), int(np.searchsorted(starts, moment, "right"))
        if first >= stop:
            after = int(np.searchsorted(centres, moment))
            nearest = min(
                (i for i in (after - 1, after) if 0 <= i < len(centres)),
                key=lambda i: abs(centres[i] - moment),
            )
            first, stop = nearest, nearest + 1
        return names[int(np.argmax(scores[first:stop].mean(axis=0)))]

    labelled = [
        [replace(word, speaker=speaker_at((word.start + word.end) / 2)) for word in segment.words]
        for segment in transcript.segments
    ]
    if loudness is not None:
        _move_to_pauses([word for words in labelled for word in words], loudness, labelled)
    segments = tuple(
        piece
        for segment, words in zip(transcript.segments, labelled, strict=True)
        for piece in _split(segment, words, speaker_at)
    )
    heard = tuple(dict.fromkeys(segment.speaker for segment in segments if segment.speaker))
    return replace(transcript, segments=segments, speakers=heard)


def _move_to_pauses(words: list[Word], loudness: Loudness, labelled: list[list[Word]]) -> None:
    """At each change of speaker, end the one word and start the next at the pause between them."""
    moved: dict[int, Word] = {}
    for index, (before, after) in enumerate(itertools.pairwise(words)):
        if before.speaker == after.speaker:
            continue
        before, after = moved.get(index, before), moved.get(index + 1, after)
        pause = loudness.pause_between((before.start + before.end) / 2, (after.start + after.end) / 2)
        if pause is not None and pause[1] - pause[0] >= MIN_PAUSE_S:
            moved[index] = replace(before, end=max(before.start, pause[0]))
            moved[index + 1] = replace(after, start=min(after.end, pause[1]))
    position = 0
    for words_of_segment in labelled:
        for slot in range(len(words_of_segment)):
            words_of_segment[slot] = moved.get(position, words_of_segment[slot])
            position += 1


def _split(segment: Segment, words: list[Word], speaker_at: Callable[[float], str]) -> list[Segment]:
    """The segment as one piece per run of one speaker's words, timed by its words."""
    if not words:
        return [replace(segment, speaker=speaker_at((segment.start + segment.end) / 2))]
    runs = [list(run) for _, run in itertools.groupby(words, key=lambda word: word.speaker)]
    if len(runs) == 1:
        return [
            replace(
                segment, start=words[0].start, end=words[-1].end, words=tuple(words), speaker=words[0].speaker
            )
        ]
    text = ("".join(word.word for word in run) for run in runs)
    return [
        replace(
            segment,
            start=run[0].start,
            end=run[-1].end,
            text=piece,
            words=tuple(run),
            stats=None,
            speaker=run[0].speaker,
        )
        for run, piece in zip(runs, text, strict=True)
    ]


def _names(centroids: Embeddings, references: list[Embeddings], request: Diarization) -> list[str]:
    """A name per speaker: the known speaker most like them (each named once), else UNLABELLED."""
    named: dict[int, str] = {}
    if references:
        similarity = centroids @ np.stack(references).T
        while similarity.size and similarity.max() >= KNOWN_MATCH:
            speaker, known = np.unravel_index(np.argmax(similarity), similarity.shape)
            named[int(speaker)] = request.known[int(known)].name
            similarity[speaker, :] = -np.inf
            similarity[:, known] = -np.inf
    return [named.get(i) or UNLABELLED.format(i) for i in range(len(centroids))]


def numbered(transcript: Transcript, known: set[str]) -> Transcript:
    """The unlabelled speakers as SPEAKER_00, SPEAKER_01, ... in the order they first speak,
    skipping any label a known speaker is called."""
    free = (label for label in map(LABEL.format, itertools.count()) if label not in known)
    return transcript.with_speakers(
        {name: name if name in known else next(free) for name in transcript.speakers}
    )


def _reference(known: KnownSpeaker, encoder: SpeakerEncoder, timeout_s: float) -> Embeddings:
    """The mean voice of a known speaker's reference clip, over its windows that are not silence."""
    audio = _decoded_reference(known, timeout_s)
    step, size = int(WINDOW_S * SAMPLE_RATE / 2), int(WINDOW_S * SAMPLE_RATE)
    clips = [audio[i : i + size] for i in range(0, max(1, len(audio) - size + 1), step)]
    power = np.array([float((clip**2).mean()) if len(clip) else 0.0 for clip in clips])
    heard = [
        clip
        for clip, level in zip(clips, power, strict=True)
        if level > 0 and level >= power.max() * 10 ** (-QUIET_DB / 10)
    ]
    if len(audio) < MIN_WINDOW_S * SAMPLE_RATE or not heard:
        raise BadReference(f"the reference clip of {known.name!r} holds no sound")
    mean = encoder.embed(heard).sum(axis=0)
    return np.asarray(mean / np.linalg.norm(mean), dtype=np.float32)


def _decoded_reference(known: KnownSpeaker, timeout_s: float) -> Samples:
    _, _, payload = known.reference.partition(",")
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise BadReference(f"the reference clip of {known.name!r} is not base64") from exc
    handle, path = tempfile.mkstemp(prefix="whisper-api-reference-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        return load_audio(path, None, timeout_s)
    except AudioError as exc:
        raise BadReference(f"the reference clip of {known.name!r} is not audio ffmpeg can read") from exc
    finally:
        os.unlink(path)
