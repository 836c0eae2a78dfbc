"""Where a recording holds speech: the Silero VAD model that faster-whisper ships, run over a
stream of 16 kHz samples as it passes, so that a file of any length costs a few blocks of memory.

faster-whisper's own `vad_filter` wants the whole recording in one array and builds several
more of its size (a 2-hour file took the decoder to 1.8 GB); the live sessions hear audio as it
comes. Both get their probabilities here instead.

    SileroStream()(samples) -> frames of 512 samples and the probability that each holds speech
    speech_spans(blocks) -> the spans of speech, with faster-whisper's VadOptions defaults
    spliced(blocks, spans) -> only the samples inside the spans, end to end
    only_spans(samples, spans) -> the same of samples held in one array

A span opens at the first frame whose probability reaches THRESHOLD, and closes where a run of
frames under THRESHOLD - HYSTERESIS begins that lasts MIN_SILENCE_S; each span is then widened
by PAD_S on both sides.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from decoder.audio.samples import SAMPLE_RATE, Samples

if TYPE_CHECKING:
    import onnxruntime

# Silero's step at 16 kHz, and the samples of the step before that it sees with each one.
FRAME_SAMPLES = 512
CONTEXT_SAMPLES = 64
# Frames heard in one run of the model (16 s): what it allocates for a run grows with the run.
RUN_FRAMES = 500
# faster-whisper's VadOptions defaults, which its WhisperModel.transcribe uses.
THRESHOLD = 0.5
HYSTERESIS = 0.15
MIN_SILENCE_S = 2.0
PAD_S = 0.4


class Span(NamedTuple):
    """Samples [start, end) of a recording."""

    start: int
    end: int


def silero_model_path() -> Path:
    """The Silero VAD model in faster-whisper's package, found without importing faster-whisper."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("faster-whisper is not installed, and with it the Silero VAD model")
    found = sorted(Path(next(iter(spec.submodule_search_locations)), "assets").glob("silero_vad*.onnx"))
    if not found:
        raise RuntimeError("faster-whisper's package holds no Silero VAD model")
    return found[-1]


_loading = threading.Lock()


@functools.cache
def _loaded() -> onnxruntime.InferenceSession:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = options.intra_op_num_threads = 1
    # Without its arena, what a run allocates goes back when the run ends.
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 4
    return onnxruntime.InferenceSession(
        str(silero_model_path()), providers=["CPUExecutionProvider"], sess_options=options
    )


def _silero() -> onnxruntime.InferenceSession:
    # One model for every stream (a stream's state lives in its own arrays); live sessions hear on
    # several threads, and the first ones may come together.
    with _loading:
        return _loaded()


class SileroStream:
    """Samples in, in pieces of any length; whole frames out with their speech probability (a
    part frame waits for the next piece, or for `flush`)."""

    def __init__(self) -> None:
        self._pending = np.zeros(0, np.float32)
        self._state = np.zeros((2, 1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, np.float32)

    def __call__(self, samples: Samples) -> tuple[Samples, Samples]:
        """(frames, FRAME_SAMPLES) samples and (frames,) probabilities."""
        samples = np.concatenate([self._pending, samples])
        whole = len(samples) // FRAME_SAMPLES * FRAME_SAMPLES
        frames, self._pending = samples[:whole].reshape(-1, FRAME_SAMPLES), samples[whole:]
        if not len(frames):
            return frames, np.zeros(0, np.float32)
        before = np.concatenate([self._context[None, :], frames[:-1, -CONTEXT_SAMPLES:]])
        self._context = frames[-1, -CONTEXT_SAMPLES:].copy()
        heard = [
            self._run(before[i : i + RUN_FRAMES], frames[i : i + RUN_FRAMES])
            for i in range(0, len(frames), RUN_FRAMES)
        ]
        return frames, np.concatenate(heard)

    def _run(self, before: Samples, frames: Samples) -> Samples:
        rows = np.concatenate([before, frames], axis=1)
        probabilities, h, c = _silero().run(None, {"input": rows, "h": self._state[0], "c": self._state[1]})
        self._state = np.stack([h, c])
        return np.ravel(probabilities).astype(np.float32)

    def flush(self) -> Samples:
        """The probability of the last part frame, filled out with silence (none if there is none)."""
        if not len(self._pending):
            return np.zeros(0, np.float32)
        return self(np.zeros(FRAME_SAMPLES - len(self._pending), np.float32))[1]


class SpanFinder:
    """Spans of speech from the frames' probabilities, in order, a piece at a time."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._frames = 0
        # The first frame of the span being heard, and of the quiet run inside it, if any.
        self._opened: int | None = None
        self._quiet_from: int | None = None

    def add(self, probabilities: Samples) -> None:
        min_silence = int(MIN_SILENCE_S * SAMPLE_RATE)
        for probability in probabilities.tolist():
            at = self._frames * FRAME_SAMPLES
            self._frames += 1
            if self._opened is None:
                if probability >= THRESHOLD:
                    self._opened = at
            elif probability >= THRESHOLD:
                self._quiet_from = None
            elif probability < THRESHOLD - HYSTERESIS:
                if self._quiet_from is None:
                    self._quiet_from = at
                if at - self._quiet_from >= min_silence:
                    self.spans.append(Span(self._opened, self._quiet_from))
                    self._opened = self._quiet_from = None

    def finish(self, samples: int) -> list[Span]:
        """The spans, padded, of a recording `samples` long."""
        if self._opened is not None:
            self.spans.append(Span(self._opened, samples))
        pad = int(PAD_S * SAMPLE_RATE)
        # Spans are at least MIN_SILENCE_S apart, more than two pads: padded, they never meet.
        return [Span(max(0, start - pad), min(samples, end + pad)) for start, end in self.spans]


def speech_spans(blocks: Iterable[Samples]) -> list[Span]:
    """The spans of speech in a stream of blocks of samples, heard block by block."""
    silero = SileroStream()
    finder = SpanFinder()
    samples = 0
    for block in blocks:
        samples += len(block)
        finder.add(silero(block)[1])
    finder.add(silero.flush())
    return finder.finish(samples)


def spliced(blocks: Iterable[Samples], spans: Sequence[Span]) -> Iterator[Samples]:
    """The samples of the stream that lie inside the spans (in order, not overlapping), end to end."""
    offset = 0
    index = 0
    for block in blocks:
        end = offset + len(block)
        while index < len(spans) and spans[index].start < end:
            span = spans[index]
            piece = block[max(span.start - offset, 0) : min(span.end, end) - offset]
            if len(piece):
                yield piece
            if span.end > end:
                break
            index += 1
        offset = end


def only_spans(samples: Samples, spans: Sequence[Span]) -> Samples:
    """spliced() of samples held whole, in one array."""
    return np.concatenate([samples[:0], *spliced([samples], spans)])
