from __future__ import annotations

import logging

import pytest

from whisper_api.live.client_warnings import BURST, PERIOD_S, ClientWarnings


def test_each_client_gets_a_few_lines_a_window(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    warnings = ClientWarnings(logging.getLogger("test.warnings"), clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "test.warnings"):
        for _ in range(100):
            warnings.warn("10.0.0.1", "bad %s", "frame")
        warnings.warn("10.0.0.2", "bad %s", "header")
        assert len(caplog.records) == BURST + 2
        assert "held back" in caplog.records[BURST].getMessage()
        assert caplog.records[-1].getMessage() == "bad header"
        now[0] = PERIOD_S
        warnings.warn("10.0.0.1", "bad %s", "again")
        assert caplog.records[-1].getMessage() == "bad again"
