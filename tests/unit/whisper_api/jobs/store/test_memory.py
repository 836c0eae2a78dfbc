from __future__ import annotations

from pathlib import Path

from tests.unit.whisper_api.jobs.store_helpers import check_save_result, run
from whisper_api.jobs.store.memory import MemoryJobStore


def test_a_renamed_result_is_written_alone(tmp_path: Path) -> None:
    run(lambda: check_save_result(MemoryJobStore(keep_results_s=60), tmp_path))
