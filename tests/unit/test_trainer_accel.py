"""GPU choices (``finetune_trainer.accel``): one rule per case, the device faked, the spec real."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.manifests import finetunejob

from finetune_api.jobspec import FineTuneJobSpec, parse_job
from finetune_trainer.accel import CPU, Device, choose, installed_packages

H100 = Device(cuda=True, bf16=True, name="NVIDIA H100")
T4 = Device(cuda=True, bf16=False, name="Tesla T4")
FLASH = frozenset({"flash_attn"})
LIGER = frozenset({"liger_kernel"})
NOTHING: frozenset[str] = frozenset()


def spec(*, packing: bool = True) -> FineTuneJobSpec:
    return parse_job(finetunejob(hyperparameters={"packing": packing})).spec


@pytest.mark.parametrize(
    ("device", "installed", "packing", "expected"),
    [
        (CPU, FLASH | LIGER, True, ("fp32", None, False, False)),
        (H100, NOTHING, True, ("bf16", "flex_attention", True, False)),
        (H100, NOTHING, False, ("bf16", "flex_attention", False, False)),
        (H100, FLASH, True, ("bf16", "flash_attention_2", True, False)),
        (H100, FLASH, False, ("bf16", "flash_attention_2", False, False)),
        (H100, LIGER, True, ("bf16", "flex_attention", True, True)),
        (H100, FLASH | LIGER, True, ("bf16", "flash_attention_2", True, True)),
        (T4, NOTHING, True, ("fp16", "sdpa", False, False)),
        (T4, FLASH | LIGER, True, ("fp16", "sdpa", False, True)),
    ],
    ids=[
        "cpu-gets-none",
        "bf16-without-flash-flex-padding-free",
        "flex-without-packing-pads",
        "flash-installed-padding-free",
        "flash-without-packing-pads",
        "liger-installed",
        "flash-and-liger",
        "no-bf16-fp16",
        "no-bf16-no-flash",
    ],
)
def test_choices(
    device: Device, installed: frozenset[str], packing: bool, expected: tuple[Any, ...]
) -> None:
    chosen = choose(device, installed, spec(packing=packing))
    got = (chosen.precision, chosen.attn_implementation, chosen.padding_free, chosen.liger_kernel)
    assert got == expected
    assert chosen.device == device.name


def test_fp16_trains_fp32_weights_under_amp() -> None:
    chosen = choose(T4, NOTHING, spec())
    assert chosen.weights_dtype() == "float32"
    assert chosen.sft_options()["fp16"] is True
    assert chosen.sft_options()["bf16"] is False


def test_bf16_loads_bf16_weights() -> None:
    assert choose(H100, NOTHING, spec()).weights_dtype() == "bfloat16"


def test_cpu_keeps_the_models_attention() -> None:
    assert choose(CPU, FLASH, spec()).model_options() == {}
    assert choose(H100, FLASH, spec()).model_options() == {
        "attn_implementation": "flash_attention_2"
    }


def test_record_names_every_choice() -> None:
    record = choose(H100, FLASH | LIGER, spec()).record()
    assert record == {
        "device": "NVIDIA H100",
        "precision": "bf16",
        "attnImplementation": "flash_attention_2",
        "paddingFree": True,
        "ligerKernel": True,
    }
    assert choose(CPU, NOTHING, spec()).record()["attnImplementation"] == "default"


def test_installed_packages_sees_only_importable_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    found = {"flash_attn"}
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name: object() if name in found else None
    )
    assert installed_packages() == frozenset({"flash_attn"})


def test_options_are_trl_and_transformers_names() -> None:
    """A renamed argument or attention kernel upstream fails here, not on the first GPU run."""
    from dataclasses import fields  # noqa: PLC0415

    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS  # noqa: PLC0415 (heavy)
    from trl.trainer.sft_config import SFTConfig  # noqa: PLC0415 (heavy)

    for installed in (NOTHING, FLASH | LIGER):
        chosen = choose(H100, installed, spec())
        assert set(chosen.sft_options()) <= {f.name for f in fields(SFTConfig)}
        assert chosen.attn_implementation in ALL_ATTENTION_FUNCTIONS
