"""Where decoders run: the GPUs CUDA_VISIBLE_DEVICES or the NVIDIA driver lists, dealt out."""

from __future__ import annotations

from pathlib import Path

from whisper_api.jobs.dispatch.placement import Placement, place_decoders, visible_gpus


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


def test_one_decoder_per_gpu_by_default_and_one_without(tmp_path: Path) -> None:
    driver = driver_with(tmp_path, 2)
    assert place_decoders(0, True, {}, driver) == (Placement(0, "0", 2), Placement(1, "1", 2))
    assert place_decoders(0, False, {}, driver) == (Placement(0, None, 1),)
    assert place_decoders(0, True, {}, tmp_path / "no-driver") == (Placement(0, None, 1),)


def test_more_decoders_than_gpus_share_them_in_turn(tmp_path: Path) -> None:
    placed = place_decoders(3, True, {"CUDA_VISIBLE_DEVICES": "5,7"}, driver_with(tmp_path, 8))
    assert [p.cuda_device for p in placed] == ["5", "7", "5"] and {p.cpu_share for p in placed} == {3}
    assert [p.name for p in placed] == ["decoder-0", "decoder-1", "decoder-2"]
    assert place_decoders(2, True, {}, tmp_path / "no-driver") == (
        Placement(0, None, 2),
        Placement(1, None, 2),
    )
