"""Where decoders run: the GPUs CUDA_VISIBLE_DEVICES or the NVIDIA driver lists, dealt out, and
the CPUs shared out as threads and decoders."""

from __future__ import annotations

from pathlib import Path

import pytest

from decoder.wire.threads import THREADS_PER_DECODER, threads_per_decoder, usable_cpus
from whisper_api.jobs.dispatch.placement import Placement, host_placements, place_decoders, visible_gpus
from whisper_api.settings import Settings


def driver_with(tmp_path: Path, gpus: int) -> Path:
    listed = tmp_path / "gpus"
    listed.mkdir()
    for index in range(gpus):
        (listed / f"0000:{index:02x}:00.0").mkdir()
    return listed


def test_the_environment_names_the_gpus_up_to_its_first_invalid_entry(tmp_path: Path) -> None:
    driver = driver_with(tmp_path, 4)
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 3"}, driver) == ("2", "3")
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "GPU-1a2b,-1,0"}, driver) == ("GPU-1a2b",)
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}, driver) == ()
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, driver) == ()


def test_without_the_variable_the_driver_lists_them(tmp_path: Path) -> None:
    assert visible_gpus({}, driver_with(tmp_path, 2)) == ("0", "1")
    assert visible_gpus({}, tmp_path / "no-driver") == ()


def test_one_decoder_per_gpu_by_default_each_with_its_share_of_the_cpus() -> None:
    assert place_decoders(0, ("0", "1"), 16, 0) == (Placement(0, "0", 8), Placement(1, "1", 8))
    # CPU_THREADS holds on a GPU host too.
    assert place_decoders(0, ("0", "1"), 16, 2) == (Placement(0, "0", 2), Placement(1, "1", 2))


def test_a_cpu_host_fills_its_cpus_with_decoders_of_the_fastest_thread_count() -> None:
    assert place_decoders(0, (), 2, 1) == (Placement(0, None, 1), Placement(1, None, 1))
    assert place_decoders(0, (), 8, 3) == (Placement(0, None, 3), Placement(1, None, 3))
    # More threads than CPUs: still one decoder, with the threads asked for.
    assert place_decoders(0, (), 2, 4) == (Placement(0, None, 4),)
    # No count known to be faster: one decoder on every CPU.
    assert place_decoders(0, (), 8, 0) == (Placement(0, None, 8),)


def test_a_set_number_of_decoders_shares_the_cpus_or_runs_the_threads_set() -> None:
    assert place_decoders(3, (), 8, 0) == tuple(Placement(index, None, 2) for index in range(3))
    assert place_decoders(1, (), 8, 1) == (Placement(0, None, 1),)
    assert place_decoders(4, (), 2, 0) == tuple(Placement(index, None, 1) for index in range(4))


def test_more_decoders_than_gpus_share_them_in_turn() -> None:
    placed = place_decoders(3, ("5", "7"), 6, 0)
    assert [p.cuda_device for p in placed] == ["5", "7", "5"] and {p.cpu_threads for p in placed} == {2}
    assert [p.name for p in placed] == ["decoder-0", "decoder-1", "decoder-2"]


def host(model_dir: Path, **environ: str) -> tuple[Placement, ...]:
    """The placements a CPU host's settings give, with every CPU of this process's mask."""
    settings = Settings.from_environ({"MODEL_DIR": str(model_dir), "USE_GPU_IF_AVAILABLE": "0", **environ})
    return host_placements(settings, {})


def test_the_host_places_decoders_by_the_table_for_the_model_a_cpu_loads(tmp_path: Path) -> None:
    cpus = usable_cpus()
    one_each = tuple(Placement(index, None, 1) for index in range(cpus))
    assert threads_per_decoder("faster-whisper", "tiny.en") == 1
    assert host(tmp_path, MAX_MODEL="tiny.en") == one_each
    # A model the table lacks: one decoder on every CPU.
    assert threads_per_decoder("faster-whisper", "small.en") is None
    assert host(tmp_path, MAX_MODEL="small.en") == (Placement(0, None, cpus),)
    # Without MAX_MODEL a CPU loads CPU_FALLBACK_MODEL; DEVELOP_MODE the smallest of the family.
    assert host(tmp_path, CPU_FALLBACK_MODEL="base") == one_each
    assert host(tmp_path, MAX_MODEL="medium.en", DEVELOP_MODE="1") == one_each
    # Where either is set, the table is not read: DECODERS share the CPUs, or CPU_THREADS fill them.
    assert host(tmp_path, MAX_MODEL="tiny.en", DECODERS="1") == (Placement(0, None, cpus),)
    assert host(tmp_path, MAX_MODEL="tiny.en", CPU_THREADS=str(cpus)) == (Placement(0, None, cpus),)
    assert host(tmp_path, MAX_MODEL="small.en", CPU_THREADS="1") == one_each


def test_the_table_is_read_for_the_engine_auto_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpus = usable_cpus()
    monkeypatch.setitem(THREADS_PER_DECODER, ("faster-whisper", "small"), 1)
    # No CTranslate2 copy of small.en: openai-whisper decodes, which the table lacks.
    assert host(tmp_path, MAX_MODEL="small.en") == (Placement(0, None, cpus),)
    assert len(host(tmp_path, MAX_MODEL="small.en", ENGINE="faster-whisper")) == cpus
    (tmp_path / "ctranslate2" / "small.en").mkdir(parents=True)
    (tmp_path / "ctranslate2" / "small.en" / "model.bin").touch()
    assert len(host(tmp_path, MAX_MODEL="small.en")) == cpus
    assert host(tmp_path, MAX_MODEL="small.en", ENGINE="openai-whisper") == (Placement(0, None, cpus),)
