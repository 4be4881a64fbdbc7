"""TRL's SFTTrainer, counting the examples that would train on nothing.

TRL (1.16) truncates during preparation and drops examples whose labels are all masked (e.g.
truncation cut every assistant token; trl#3927, #6668), but does not say how many. Here TRL
prepares in two passes, tokenize-truncate-drop then pack, so the count is known in both modes.
Formats, chat templates, completion-only and assistant-only masks and packing stay TRL's code,
which ``validate`` reuses so its counts match training.
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset
from trl.chat_template_utils import get_training_chat_template, has_generation_markers
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


class CountingSFTTrainer(SFTTrainer):
    """SFTTrainer that records, per split, how many examples had no trainable token left."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.dropped: dict[str, int] = {}
        super().__init__(*args, **kwargs)

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
