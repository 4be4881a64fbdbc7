"""Who may import whom: the operator and the trainer meet only in the contract package.

Checked on every import statement of every module (those inside functions too), by walking the
AST: neither ``finetune_operator`` nor ``finetune_trainer`` imports the other, ``finetune_api``
imports neither and nothing heavier than pydantic and PyYAML, and the stand-in trainer imports
the contract, never the real trainer or the operator. The CLI (``kubectl finetune``) is a
client of the API: it imports the contract, never the operator, and the trainer only where it
runs a job locally (``local.py``) or draws the trainer's loss plot (``plot.py``, through the
torch-free ``lossplot``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "finetune_api": ROOT / "api" / "finetune_api",
    "finetune_operator": ROOT / "operator" / "finetune_operator",
    "finetune_trainer": ROOT / "trainer-image" / "finetune_trainer",
    "finetune_cli": ROOT / "cli" / "finetune_cli",
}
STANDIN = ROOT / "tests" / "e2e" / "standin_trainer.py"
ALLOWED = {
    "finetune_api": {"finetune_api", "pydantic", "yaml"},
    "finetune_operator": {"finetune_api", "finetune_operator"},
    "finetune_trainer": {"finetune_api", "finetune_trainer"},
    "finetune_cli": {"finetune_api", "finetune_cli", "finetune_trainer"},  # never the operator
}
"""Top-level names each package may import besides the standard library (and, for the operator
and the trainer, their own third-party dependencies): the other project packages it may use."""
PROJECT = set(PACKAGES)


def imported(path: Path) -> set[str]:
    """Top-level names of every absolute import in the module at ``path``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def modules(package: str) -> list[Path]:
    return sorted(PACKAGES[package].rglob("*.py"))


@pytest.mark.parametrize("package", ["finetune_operator", "finetune_trainer", "finetune_cli"])
def test_operator_and_trainer_meet_only_in_the_contract(package: str) -> None:
    crossing = {
        str(path.relative_to(ROOT)): sorted((imported(path) & PROJECT) - ALLOWED[package])
        for path in modules(package)
    }
    assert {path: names for path, names in crossing.items() if names} == {}


CLI_TRAINER_MODULES = {"local.py": None, "plot.py": {"finetune_trainer.lossplot"}}
"""The CLI's modules that may import the trainer, and from which modules (None: any)."""


def trainer_modules_imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "finetune_trainer")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "finetune_trainer"
        ):
            found.add(str(node.module))
    return found


def test_cli_uses_the_trainer_only_to_run_locally_and_to_plot() -> None:
    misplaced = {}
    for path in modules("finetune_cli"):
        used = trainer_modules_imported(path)
        allowed = CLI_TRAINER_MODULES.get(path.name, set())
        if used and allowed is not None and used - allowed:
            misplaced[path.name] = sorted(used - allowed)
    assert misplaced == {}


def test_loss_plot_needs_no_torch() -> None:
    """The CLI's plot imports it; the CLI's extra has matplotlib, not torch."""
    path = PACKAGES["finetune_trainer"] / "lossplot.py"
    assert imported(path) - sys.stdlib_module_names <= {"matplotlib"}


def test_contract_needs_only_pydantic_and_yaml() -> None:
    heavy = {
        str(path.relative_to(ROOT)): sorted(
            imported(path) - ALLOWED["finetune_api"] - sys.stdlib_module_names
        )
        for path in modules("finetune_api")
    }
    assert {path: names for path, names in heavy.items() if names} == {}


def test_standin_trainer_uses_the_contract_not_the_trainer() -> None:
    assert imported(STANDIN) & PROJECT == {"finetune_api"}


def test_validate_loads_no_training_code() -> None:
    """The CPU-only validation pod needs neither the training loop nor PEFT or matplotlib."""
    path = PACKAGES["finetune_trainer"] / "validate.py"
    names = {
        node.module
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not names & {"finetune_trainer.train", "finetune_trainer.callbacks", "peft"}
    assert not imported(path) & {"peft", "matplotlib"}
