"""Every cache and temp dir of the trainer lands under $FINETUNE_SCRATCH (read-only root fs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from finetune_api.pod import SCRATCH_LAYOUT, Env
from finetune_trainer.config import scratch_dir, use_scratch

CACHE_VARIABLES = {
    "HOME",
    "TMPDIR",
    "XDG_CACHE_HOME",
    "HF_HOME",
    "HF_DATASETS_CACHE",
    "TORCH_EXTENSIONS_DIR",
    "TRITON_CACHE_DIR",
    "MPLCONFIGDIR",
    "WANDB_DIR",
}


def test_every_cache_variable_defaults_under_scratch(tmp_path: Path) -> None:
    env = {Env.SCRATCH: str(tmp_path)}
    use_scratch(env)
    assert set(env) - {Env.SCRATCH} == CACHE_VARIABLES == set(SCRATCH_LAYOUT)
    for name in CACHE_VARIABLES:
        path = Path(env[name])
        assert path.is_relative_to(tmp_path), name
        assert path.is_dir(), f"{name}: tempfile skips a TMPDIR that does not exist"


def test_values_the_user_set_are_kept(tmp_path: Path) -> None:
    home = tmp_path / "my-home"
    home.mkdir()
    env = {Env.SCRATCH: str(tmp_path / "scratch"), "HF_HOME": "/models/hf", "HOME": str(home)}
    use_scratch(env)
    assert (env["HF_HOME"], env["HOME"]) == ("/models/hf", str(home))
    assert env["TMPDIR"] == str(tmp_path / "scratch" / "tmp")


def test_a_home_that_cannot_be_written_moves_to_scratch(tmp_path: Path) -> None:
    """The runtime sets HOME from /etc/passwd; on a read-only root it is not a choice."""
    env = {Env.SCRATCH: str(tmp_path), "HOME": "/home/trainer-does-not-exist"}
    use_scratch(env)
    assert env["HOME"] == str(tmp_path / "home")


def test_nothing_changes_outside_a_pod() -> None:
    env = {"HOME": "/home/me"}
    use_scratch(env)
    assert env == {"HOME": "/home/me"}


def test_work_dirs_are_under_scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(Env.SCRATCH, str(tmp_path))
    assert scratch_dir("demo") == tmp_path / "finetune-demo"


def test_entry_point_imports_nothing_that_reads_cache_dirs() -> None:
    """``cli.main`` sets the defaults first, so importing ``cli`` must not load these."""
    heavy = ("torch", "transformers", "datasets", "matplotlib", "deepspeed", "triton")
    code = (
        f"import sys, finetune_trainer.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
