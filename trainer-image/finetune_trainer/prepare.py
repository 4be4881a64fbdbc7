"""Prepare fetched inputs for TRL: the workspace layout, the EOS check, the datasets as TRL
takes them, and the tokenisation options.

Shared by ``validate`` (which counts what training will see) and ``train``, so both tokenise and
mask alike; nothing here loads weights or builds a trainer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import load_dataset

from finetune_api.jobspec import FineTuneJob
from finetune_trainer.errors import InvalidModel
from finetune_trainer.inputs import DatasetFiles

log = logging.getLogger(__name__)


@dataclass
class Workspace:
    """A run's local directories under the scratch dir."""

    root: Path

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def final(self) -> Path:
        return self.root / "final"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    def checkpoint(self, step: int) -> Path:
        return self.run / f"checkpoint-{step}"


def check_eos(tokenizer: Any, generation_config: Any, fmt: str) -> None:
    """The tuned model must stop: EOS, chat template and generation config have to agree.

    A template that ends assistant turns with something other than EOS is refused; a generation
    config that does not stop on the tokenizer's EOS is corrected in place (and so published).
    """
    eos, eos_id = tokenizer.eos_token, tokenizer.eos_token_id
    if eos is None or eos_id is None:
        raise InvalidModel("the tokenizer has no EOS token; the tuned model could never stop")
    if fmt == "chat":
        if not tokenizer.chat_template:
            raise InvalidModel(
                "chat data needs a tokenizer with a chat template; this one has none"
            )
        probe = "finetune-eos-probe"
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": probe}],
            tokenize=False,
        )
        tail = rendered[rendered.rindex(probe) + len(probe) :]
        if eos not in tail:
            raise InvalidModel(
                f"the chat template ends assistant turns with {tail!r}, not the EOS token {eos!r}; "
                "the tuned model would not stop"
            )
    stops = generation_config.eos_token_id
    stops = [] if stops is None else [stops] if isinstance(stops, int) else list(stops)
    if eos_id not in stops:
        log.warning("generation config stops on %s, not EOS %d: adding EOS", stops, eos_id)
        generation_config.eos_token_id = [*stops, eos_id] if stops else eos_id


def to_last_turn(example: dict[str, Any]) -> dict[str, Any]:
    """Chat example → conversational prompt-completion (the last assistant turn is the target)."""
    messages = example["messages"]
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return {"prompt": messages[:last], "completion": [messages[last]]}


@dataclass(frozen=True)
class Splits:
    """The train and eval sets in the shape TRL trains on, and the eval rows as written
    (``expected`` included) for answer-level evaluation."""

    train: Any
    eval: Any
    graded: Any


def load_datasets(
    state: Any, *, ws: Workspace, job: FineTuneJob, files: DatasetFiles, assistant_masks: bool
) -> Splits:
    """The train and eval sets (eval split off when the spec asks), in a shape TRL can mask.

    ``expected`` is for grading answers only: TRL never sees it.
    """
    with state.local_main_process_first():
        train = _load_jsonl(files.train, ws)
        evaluation = _load_jsonl(files.eval, ws) if files.eval else None
    split = job.spec.dataset.eval_split
    if split:
        parts = train.train_test_split(test_size=split, seed=job.spec.hyperparameters.seed)
        train, evaluation = parts["train"], parts["test"]
    graded = evaluation
    train = _without_expected(train)
    evaluation = _without_expected(evaluation)
    if files.format == "chat" and not assistant_masks:
        log.warning(
            "TRL cannot mask assistant turns with this chat template: "
            "the loss covers the last assistant turn"
        )
        train = train.map(to_last_turn, remove_columns=["messages"])
        if evaluation is not None:
            evaluation = evaluation.map(to_last_turn, remove_columns=["messages"])
    return Splits(train, evaluation, graded)


def _load_jsonl(path: str, ws: Workspace) -> Any:
    """One split on its own: a builder given both files casts them to one schema, and only the
    eval set carries ``expected``."""
    cache = str(ws.root / "hf-datasets")
    return load_dataset("json", data_files=path, split="train", cache_dir=cache)


def _without_expected(dataset: Any) -> Any:
    if dataset is None or "expected" not in dataset.column_names:
        return dataset
    return dataset.remove_columns("expected")


def tokenization_options(job: FineTuneJob, fmt: str, assistant_masks: bool) -> dict[str, Any]:
    """The SFTConfig fields that decide tokens and masks."""
    return {
        "max_length": job.spec.hyperparameters.max_seq_length,
        "assistant_only_loss": fmt == "chat" and assistant_masks,
        "completion_only_loss": True if fmt != "text" else None,
    }
