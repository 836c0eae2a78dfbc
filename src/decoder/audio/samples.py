"""What the decoder hears: 16 kHz mono float32 samples in [-1, 1], the rate Whisper's models take.

Plain numbers and a type, importable without ffmpeg's libraries (the live sessions' voice
activity reads them in the front end).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
# Mono float32 samples in [-1, 1] at SAMPLE_RATE.
Samples = npt.NDArray[np.float32]
