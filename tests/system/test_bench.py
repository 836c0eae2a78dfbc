"""The benchmark suite runs and writes its report (`python -m bench --quick`, a short plan)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from decoder.wire.threads import usable_cpus
from tests.support.server import REPO_ROOT

pytestmark = pytest.mark.slow


def test_quick_run_writes_every_table(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = output.read_text()
    for heading in (
        "# Benchmarks",
        "## Targets",
        "## Engines",
        "## The server",
        "## What `make run` serves",
        "## Threads per decoder",
        "## A burst of short clips",
        "## Scaling out",
        "## Memory",
        "## Long files",
        "## Short files",
        "## Language detection",
        "## A language per segment",
        "## Speaker diarization",
        "## Live transcription",
    ):
        assert heading in report
    # Both lengths decoded both ways; past the whole-file limit, windowed decoding holds less.
    long_rows = re.findall(
        r"^\| ([\d.]+ min) \| (\d+) \(\+\d+\) \| [\d.]+ \| (\d+) \(\+\d+\) \| [\d.]+ \|$", report, re.M
    )
    assert [row[0] for row in long_rows] == ["0.5 min", "3 min"], long_rows
    assert int(long_rows[1][2]) < int(long_rows[1][1])
    # Both clips got a fixed cost, and both queue runs decoded every clip.
    assert len(re.findall(r"^\| (5|30) s \| [\d.]+ \| [\d.]+ \| [+-][\d.]+ \| [\d.]+ \|$", report, re.M)) == 2
    assert re.findall(r"^\| (1|8) \| [\d.]+ \| [\d.]+ \| 0 \|$", report, re.M) == ["1", "8"]
    assert re.search(r"Batched against one at a time: [\d.]+x", report)
    # make run's default and openai-whisper both decoded the clip, each on its engine.
    served = re.findall(
        r"^\| `(openai-whisper|default)` \((openai-whisper|faster-whisper)\) \|", report, re.M
    )
    assert served == [("openai-whisper", "openai-whisper"), ("default", "faster-whisper")]
    # faster-whisper timed tiny.en on one thread and on every CPU, with the rule's threads and the
    # table's; both placements took the burst, the default with a one-thread decoder on each CPU.
    cpus = usable_cpus()
    counts = f"(?:1|{cpus})"
    timed = rf"^\| tiny\.en \| (\S+-whisper) \| (?:[\d.]+ \| ){{4}}[\d.]+x \| {counts} \| \**{counts}\** \|$"
    engines = re.findall(timed, report, re.M)
    assert engines == ["faster-whisper"], engines
    placement = r"^\| tiny\.en \| (default|one decoder) \(faster-whisper\) \| (\d+ x \d+) \|"
    placed = re.findall(placement, report, re.M)
    assert placed == [("default", f"{cpus} x 1"), ("one decoder", f"1 x {cpus}")], placed
    # The burst went through the API without a failure, and /proc saw each kind of process work.
    burst = re.findall(
        r"^\| 1 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| 0 \|$", report, re.M
    )
    assert len(burst) == 1 and all(float(seconds) > 0 for seconds in burst[0]), burst
    # Live turns came back, idle and beside a file job, each with its latencies.
    live_row = r"^\| faster-whisper \| (\d+) \| (idle|a file job decoding) \| (\d+) of \d+ \| \d+ \|"
    live_rows = re.findall(live_row, report, re.M)
    runs = [("500", "idle"), ("250", "idle"), ("500", "a file job decoding")]
    assert [row[:2] for row in live_rows] == runs, live_rows
    assert all(int(turns) >= 1 for _, _, turns in live_rows)
    # The three-language recording was heard in three runs.
    heard = re.findall(r"^\| (English[^|]*) \| \d+ s \| [^|]* \((\d+) runs?\) \|", report, re.M)
    assert heard == [("English, Spanish, German", "3")], heard
    # Every layout of the scaling table decoded its tasks, and both stores were read.
    layouts = re.findall(
        r"^\| \d (decoders?|hosts?) [^|]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| 0 \|$", report, re.M
    )
    assert len(layouts) == 4
    assert re.search(r"^\| PostgreSQL \| 20 \| [\d.]+ \| [\d.]+ \|$", report, re.M)
    # Every engine configuration got a row with a time, an RTF and a word error rate.
    engine_rows = re.findall(
        r"^\| (openai|faster)-whisper, [^|]+ \| \d \| [\d.]+ \| [\d.]+ \| ([\d.]+) \|", report, re.M
    )
    assert len(engine_rows) >= 8
    # The dialogue was diarized: two speakers found, most words right.
    speaker_row = re.search(r"^\| 8 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| 2 \| (\d+)% \|", report, re.M)
    assert speaker_row and int(speaker_row.group(1)) >= 90, report
    assert all(float(wer) < 0.2 for _, wer in engine_rows)
    assert "| 4 queued tasks, openai-whisper | no failures | 0 failed | met |" in report
    assert "| 4 queued tasks, faster-whisper | no failures | 0 failed | met |" in report
    assert re.search(r"^\| API overhead, faster-whisper \| ≤ 1.05 \| \d+\.\d{3} \|", report, re.M)
    # The bad upload was refused as such, and every latency row has numbers.
    assert "answered 400" in report
    assert len(re.findall(r"^\| \S+-whisper \| (idle|decoding) \| `/", report, re.M)) == 8
