"""Long stretches of silence, which are not decoded.

Whisper hears nothing in silence, yet decoding it costs as much as speech, and the model fills it
with invented text ("Thank you.", dots) as often as not: a recorder left running overnight would
cost hours of decoder time for a page of noise. So stretches of at least SKIPPED_SILENCE_S where
no sample rises above QUIET_LEVEL (-60 dBFS, a thousandth of full scale: far below any speech a
microphone picks up, well above the noise of a digital silence encoded lossily) are left out,
through the libraries' own `clip_timestamps`; MARGIN_S at each end of a stretch is still decoded.
Recordings without such a stretch are decoded exactly as before.
"""

from __future__ import annotations

import numpy as np

from decoder.audio.samples import SAMPLE_RATE, Samples

QUIET_LEVEL = 10 ** (-60 / 20)
SKIPPED_SILENCE_S = 30
MARGIN_S = 1


class LoudSeconds:
    """Whether each second of a recording, fed to it block by block, has a sample above QUIET_LEVEL."""

    def __init__(self) -> None:
        self._loud: list[bool] = []
        # The start of a second that the last block cut.
        self._rest = np.zeros(0, np.float32)
        self.samples = 0

    def add(self, block: Samples) -> None:
        self.samples += len(block)
        pending = np.concatenate((self._rest, block)) if len(self._rest) else block
        whole = len(pending) // SAMPLE_RATE * SAMPLE_RATE
        peaks = np.abs(pending[:whole]).reshape(-1, SAMPLE_RATE).max(axis=1)
        self._loud.extend((peaks > QUIET_LEVEL).tolist())
        self._rest = pending[whole:]

    def clip_timestamps(self) -> list[float] | None:
        """The stretches to decode, as start, end, start, end... seconds; None where nothing is
        left out, [] where nothing is loud at all."""
        loud = [*self._loud, bool(len(self._rest)) and bool(np.abs(self._rest).max() > QUIET_LEVEL)]
        duration_s = self.samples / SAMPLE_RATE
        clips: list[float] = []
        decoded_until = 0.0
        second = 0
        while second < len(loud):
            if loud[second]:
                second += 1
                continue
            quiet_end = second
            while quiet_end < len(loud) and not loud[quiet_end]:
                quiet_end += 1
            skip_from = float(second + MARGIN_S) if second > 0 else 0.0
            skip_to = float(quiet_end - MARGIN_S) if quiet_end < len(loud) else duration_s
            if skip_to - skip_from >= SKIPPED_SILENCE_S:
                if skip_from > decoded_until:
                    clips += [decoded_until, skip_from]
                decoded_until = skip_to
            second = quiet_end
        if decoded_until == 0.0:
            return None
        if decoded_until < duration_s:
            clips += [decoded_until, duration_s]
        return clips
