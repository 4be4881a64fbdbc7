"""Which checkpoints count as complete, which one a restart resumes from, which get pruned."""

from __future__ import annotations

import pytest

from finetune_trainer.checkpoints import MARKER, Inventory, inventory, step_dir, to_prune


def keys(complete: list[int], incomplete: list[int]) -> list[str]:
    out = []
    for step in complete:
        out += [f"{step_dir(step)}/adapter_model.safetensors", f"{step_dir(step)}/{MARKER}"]
    out += [f"{step_dir(step)}/global_step{step}/optim.pt" for step in incomplete]
    return out


def test_only_marked_steps_are_complete() -> None:
    inv = inventory([*keys([10, 20], [30]), "stray.txt", "step-x/y"])
    assert inv == Inventory(complete=(10, 20), incomplete=(30,))
    assert inv.newest == 20


def test_no_checkpoint() -> None:
    assert inventory([]).newest is None
    assert inventory(keys([], [5])).newest is None


@pytest.mark.parametrize(
    ("complete", "incomplete", "keep", "pruned"),
    [
        ([10, 20, 30], [], 2, [10]),
        ([10, 20, 30], [], 1, [10, 20]),
        ([10], [], 2, []),
        ([10, 30], [20], 2, [20]),  # a leftover from a crashed upload
        ([10, 20], [30], 2, []),  # may still be uploading
        ([], [10], 2, []),
    ],
)
def test_prune(complete: list[int], incomplete: list[int], keep: int, pruned: list[int]) -> None:
    assert to_prune(inventory(keys(complete, incomplete)), keep) == pruned
