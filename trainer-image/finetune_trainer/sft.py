"""TRL's SFTTrainer, counting the examples that would train on nothing.

TRL (1.16) truncates during preparation and drops examples whose labels are all masked (e.g.
truncation cut every assistant token; trl#3927, #6668), but does not say how many. Here TRL
prepares in two passes, tokenize-truncate-drop then pack, so the count is known in both modes.
Formats, chat templates, completion-only and assistant-only masks and packing stay TRL's code,
which ``validate`` reuses so its counts match training.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from datasets import Dataset
from torch.utils.data import Sampler
from transformers.trainer_pt_utils import get_length_grouped_indices
from trl.chat_template_utils import get_training_chat_template, has_generation_markers
from trl.trainer import utils as trl_utils
from trl.trainer.sft_config import SFTConfig
from trl.trainer.sft_trainer import SFTTrainer


def assistant_masks_supported(tokenizer: Any) -> bool:
    """Whether TRL can mask all but assistant turns: the template has ``{% generation %}``
    markers, or TRL ships a training variant of it."""
    if not tokenizer.chat_template:
        return False
    try:
        get_training_chat_template(tokenizer)
    except ValueError:
        return False
    return True


EAGER_DEVICES = ("cpu", "cuda", "xpu", "mps")
"""Devices that run the LM head eagerly: a batch's shape never triggers a recompilation."""


def _scores_labelled_positions_only(device: torch.device) -> bool:
    return device.type in EAGER_DEVICES


def score_labelled_positions_only() -> None:
    """Make TRL's fused LM head project only the positions that carry a label, on every eager
    device.

    TRL (1.16) projects only labelled positions where Triton runs; elsewhere it projects every
    position (system prompt, question and padding too), so that tile shapes stay fixed for
    graph compilers such as Neuron's. The CPU runs eagerly and has no such compiler. In the
    demo's batches about a third of the tokens are completion tokens, and the full projection
    through SmolLM2's 49,152-word head cost a LoRA step about 30% more on two cores
    (docs/benchmarks.md). Only TRL's choice of positions changes: its kernels still pick
    Triton or their torch tiles by device, from their own module, and the loss is the same.
    """
    trl_utils._use_triton = _scores_labelled_positions_only  # type: ignore[attr-defined]


class SeededLengthGroupedSampler(Sampler[int]):
    """Batches of similar length in an order that depends only on the seed and the epoch.

    Grouping cuts the padding of a random order (about half the tokens of a long-tailed chat
    set). The order comes from the same grouping as transformers' ``LengthGroupedSampler``,
    but drawn from a generator seeded by (seed, epoch) rather than the global RNG, so a
    resumed run replays exactly the batches it would have seen, and every rank draws the
    same order (accelerate then deals the batches out).
    """

    def __init__(self, lengths: Sequence[int], group_size: int, seed: int) -> None:
        self.lengths = list(lengths)
        self.group_size = group_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the Trainer (through accelerate) before each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator()
        generator.manual_seed(self.seed * 1_000_003 + self.epoch)
        order: list[int] = get_length_grouped_indices(  # type: ignore[no-untyped-call]
            self.lengths, self.group_size, generator=generator
        )
        return iter(order)


class CountingSFTTrainer(SFTTrainer):
    """SFTTrainer that records, per split, how many examples had no trainable token left,
    (``group_by_length``) draws training batches of similar length, (``eval_sample_size``)
    evaluates a seeded sample of the eval set during training, and projects only labelled
    positions through the LM head."""

    def __init__(
        self,
        *args: Any,
        group_by_length: bool = False,
        eval_sample_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.dropped: dict[str, int] = {}
        self.group_by_length = group_by_length
        score_labelled_positions_only()
        super().__init__(*args, **kwargs)
        self.eval_sample = self._eval_sample(eval_sample_size)

    def _eval_sample(self, size: int | None) -> Dataset | None:
        """The prepared eval records the evaluations during training use: the same ones at
        every interval and on every rank (drawn by the seed), None when that is all of them."""
        full: Any = self.eval_dataset
        if size is None or not isinstance(full, Dataset) or len(full) <= size:
            return None
        return full.shuffle(seed=self.args.seed).select(range(size))

    @property
    def samples_eval(self) -> bool:
        """Whether evaluations during training see fewer records than the final one."""
        return self.eval_sample is not None

    def _evaluate(
        self, trial: Any, ignore_keys_for_eval: list[str] | None, skip_scheduler: bool = False
    ) -> dict[str, float]:
        # The Trainer's periodic evaluation: on the sample. Explicit ``evaluate()`` calls (the
        # base model's loss at step 0, the final loss) keep the whole eval set.
        if self.eval_sample is None:
            return super()._evaluate(trial, ignore_keys_for_eval, skip_scheduler)
        full = self.eval_dataset
        self.eval_dataset = self.eval_sample
        try:
            return super()._evaluate(trial, ignore_keys_for_eval, skip_scheduler)
        finally:
            self.eval_dataset = full

    def _get_train_sampler(self, train_dataset: Dataset | None = None) -> Any:
        dataset: Any = self.train_dataset if train_dataset is None else train_dataset
        if not self.group_by_length or getattr(self.args, "packing", False):
            return super()._get_train_sampler(train_dataset)
        lengths = [len(ids) for ids in dataset["input_ids"]]
        group = self.args.per_device_train_batch_size * self.args.gradient_accumulation_steps
        return SeededLengthGroupedSampler(lengths, group, self.args.seed)

    def _prepare_dataset(  # noqa: PLR0917 (TRL's signature)
        self,
        dataset: Dataset,
        processing_class: Any,
        args: SFTConfig,
        packing: bool,
        formatting_func: Any,
        dataset_name: str,
    ) -> Dataset:
        tokenized = super()._prepare_dataset(
            dataset, processing_class, args, False, formatting_func, dataset_name
        )
        self.dropped[dataset_name] = len(dataset) - len(tokenized)
        if not packing:
            return tokenized
        return super()._prepare_dataset(tokenized, processing_class, args, True, None, dataset_name)


def tokenize_only(dataset: Dataset, tokenizer: Any, args: SFTConfig) -> Dataset:
    """TRL's tokenization and labels for a dataset, without a model (for ``validate``).

    Preparation needs only the tokenizer, so it runs on an instance built without ``__init__``
    (which would need the weights the CPU-only validation pod never downloads); the attributes
    set here are the ones ``SFTTrainer.__init__`` derives for preparation (trl==1.16).
    """
    trainer = CountingSFTTrainer.__new__(CountingSFTTrainer)
    trainer._tokenizer = tokenizer
    trainer._is_vlm = False
    trainer.completion_only_loss = bool(args.completion_only_loss)
    trainer.chat_template = (
        get_training_chat_template(tokenizer)
        if args.assistant_only_loss and not has_generation_markers(tokenizer.chat_template)
        else None
    )
    return SFTTrainer._prepare_dataset(trainer, dataset, tokenizer, args, False, None, "validate")
