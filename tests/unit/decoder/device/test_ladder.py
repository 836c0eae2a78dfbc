from __future__ import annotations

import pytest

from decoder.device.ladder import GIB, DeviceFacts, ModelPlan, plan_models
from decoder.wire.models import MODELS, available_models, ladder_from

NO_GPU = DeviceFacts(cuda_available=False, free_vram_bytes=0)


def gpu(free_gib: float) -> DeviceFacts:
    return DeviceFacts(cuda_available=True, free_vram_bytes=int(free_gib * GIB))


def plan(
    facts: DeviceFacts,
    *,
    max_model: str | None = None,
    cpu_fallback_model: str = "medium",
    use_gpu_if_available: bool = True,
    develop_mode: bool = False,
) -> ModelPlan:
    return plan_models(
        max_model=max_model,
        cpu_fallback_model=cpu_fallback_model,
        use_gpu_if_available=use_gpu_if_available,
        develop_mode=develop_mode,
        facts=facts,
    )


def test_every_official_name_is_known() -> None:
    assert set(MODELS) == {
        "tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en",
        "large-v1", "large-v2", "large-v3", "large", "large-v3-turbo", "turbo",
    }  # fmt: skip


def test_big_gpu_gets_the_best_model_first() -> None:
    chosen = plan(gpu(40))
    assert chosen.gpu_mode
    assert chosen.gpu_candidates == ("large-v3", "large-v3-turbo", "medium", "small", "base", "tiny")
    assert chosen.max_model_to_use == "large-v3"


@pytest.mark.parametrize(
    ("free_gib", "first"),
    [(10, "large-v3"), (9, "large-v3-turbo"), (5.5, "medium"), (3, "small"), (1, "base")],
)
def test_largest_model_that_fits_free_vram(free_gib: float, first: str) -> None:
    assert plan(gpu(free_gib)).gpu_candidates[0] == first


def test_max_model_caps_the_ladder_and_keeps_its_family() -> None:
    assert plan(gpu(40), max_model="small.en").gpu_candidates == ("small.en", "base.en", "tiny.en")
    assert plan(gpu(40), max_model="large-v2").gpu_candidates[:2] == ("large-v2", "large-v3-turbo")
    assert plan(gpu(40), max_model="turbo").gpu_candidates == ("turbo", "medium", "small", "base", "tiny")


def test_nothing_fits_means_cpu_mode() -> None:
    chosen = plan(gpu(0.5), max_model="small")
    assert not chosen.gpu_mode
    assert chosen.cpu_model == "small"


def test_cpu_mode_uses_max_model_or_the_fallback() -> None:
    assert plan(NO_GPU).cpu_model == "medium"
    assert plan(NO_GPU, cpu_fallback_model="base").max_model_to_use == "base"
    assert plan(NO_GPU, max_model="tiny.en").max_model_to_use == "tiny.en"
    assert plan(gpu(40), use_gpu_if_available=False).gpu_mode is False


def test_develop_mode_uses_the_smallest_model() -> None:
    assert plan(NO_GPU, develop_mode=True).max_model_to_use == "tiny"
    assert plan(gpu(40), develop_mode=True).gpu_candidates == ("tiny",)
    assert plan(NO_GPU, develop_mode=True, max_model="medium.en").max_model_to_use == "tiny.en"


def test_english_only_plans_are_flagged() -> None:
    assert plan(NO_GPU, max_model="base.en").english_only
    assert not plan(gpu(40)).english_only


def test_ladder_never_lists_an_alias_below_the_top() -> None:
    assert "large" not in ladder_from("large-v3")[1:]
    assert "turbo" not in ladder_from("large")[1:]


def test_tasks_may_ask_for_any_present_model_up_to_max_models_size() -> None:
    present = {"tiny.en", "base", "small"}
    assert available_models("base", present.__contains__) == ("tiny.en", "base")
    assert available_models("tiny.en", present.__contains__) == ("tiny.en",)
    # MAX_MODEL itself is offered even before it is downloaded.
    assert available_models("medium.en", present.__contains__) == ("tiny.en", "base", "small", "medium.en")
