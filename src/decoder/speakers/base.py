"""What a speaker encoder is, for the encoders (decoder.speakers.encoders, onnx_encoder) and
for those that use one (diarize, clustering): a clip of speech in, a unit vector out that is
close for clips of one voice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from decoder.audio.samples import Samples

Embeddings = npt.NDArray[np.float32]


class SpeakerEncoder(Protocol):
    name: str

    def embed(self, clips: Sequence[Samples]) -> Embeddings:
        """One L2-normed row per clip (16 kHz mono float32)."""
        ...
