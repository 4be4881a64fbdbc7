"""One training run per process, for ``bench.trainer_throughput``: the trainer and two baselines.

Every variant trains one epoch of the same chat file on the same model with the same LoRA
(``LORA_R``, ``LORA_ALPHA``, ``LORA_DROPOUT``), global batch and thread count; only what each
tool does by default differs:

- ``trainer``: the trainer's own path and defaults, as ``train.build_trainer`` assembles it: the
  job document parsed by ``jobspec``, ``prepare.load_datasets``, ``train.sft_arguments``
  (micro-batch and accumulation from ``dsconfig.plan_batch``, DeepSpeed only where
  ``dsconfig.uses_deepspeed`` says), ``sft.CountingSFTTrainer`` with the spec's length grouping.
  S3, checkpoint upload, progress and publishing are left out.
- ``hf``: a plain ``transformers.Trainer`` on a PEFT model, the chat template tokenised by hand,
  ``DataCollatorForLanguageModeling`` (pads each batch to its longest), defaults otherwise.
- ``trl``: ``trl.SFTTrainer`` given the model's path, the raw chats and a ``peft_config``, with
  ``SFTConfig``'s documented defaults (gradient checkpointing on, entropy and token accuracy
  logged) except the batch, one epoch, ``max_length``, no saving and fp32 (its default bf16
  refuses a machine without a GPU).

A ``Meter`` wraps each variant's collator: real tokens are the batch's attention mask (the
tokens that are not padding), computed tokens the size of ``input_ids``; the clock runs from
``on_train_begin`` to ``on_train_end``; the time to the first optimizer step counts from the
process's start (imports, model load and tokenisation included).
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VARIANTS = ("trainer", "hf", "trl")

LORA_R, LORA_ALPHA, LORA_DROPOUT = 16, 32, 0.0
"""The demo's LoRA (the reviewer's run: r 16, all-linear, dropout 0), for every variant."""


@dataclass(frozen=True)
class Run:
    """What a run needs besides the variant: its inputs, the batch, the threads and its CPUs."""

    model_dir: Path
    train_file: Path
    work_dir: Path
    examples: int
    batch_size: int
    max_seq_length: int
    seed: int
    threads: int
    cpus: tuple[int, ...]
    """The CPUs the run is pinned to, none of them another concurrent run's."""


@dataclass
class Result:
    """One run's figures, written by the worker process as JSON."""

    variant: str
    round: int
    steps: int
    real_tokens: int
    computed_tokens: int
    train_seconds: float
    first_step_seconds: float
    """From the process's start to the end of the first optimizer step."""
    train_loss: float
    peak_rss_mib: float
    torch_threads: int
    loadavg_end: float
    """1-minute load average at the end of training, this run and the concurrent ones included
    (more: neighbours)."""
    cpus: list[int]
    """The CPUs the run was pinned to."""

    @property
    def tokens_per_second(self) -> float:
        return self.real_tokens / self.train_seconds

    @property
    def padding_share(self) -> float:
        return 1 - self.real_tokens / self.computed_tokens


def meter(collate: Any, started: float) -> Any:
    """A callback that also wraps the collator (see the module docstring)."""
    from transformers import TrainerCallback  # noqa: PLC0415

    class Meter(TrainerCallback):
        def __init__(self) -> None:
            self.real = self.computed = 0
            self.start = self.seconds = self.first_step = 0.0

        def __call__(self, examples: list[dict[str, Any]]) -> Any:
            batch = collate(examples)
            ids = batch["input_ids"]
            mask = batch.get("attention_mask")
            self.real += int(mask.sum()) if mask is not None else ids.numel()
            self.computed += ids.numel()
            return batch

        def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
            self.start = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, *rest: Any, **kwargs: Any) -> None:
            if not self.first_step:
                self.first_step = time.time() - started

        def on_train_end(self, *args: Any, **kwargs: Any) -> None:
            self.seconds = time.perf_counter() - self.start

    return Meter()


def run_variant(variant: str, run: Run, round_: int, started: float) -> Result:
    """Train one epoch with ``variant`` and measure it; ``started``: the process's start time."""
    import torch  # noqa: PLC0415

    torch.set_num_threads(run.threads)
    build = {"trainer": _trainer, "hf": _hf_trainer, "trl": _trl_trainer}[variant]
    trainer = build(run)
    measure = meter(trainer.data_collator, started)
    trainer.data_collator = measure
    trainer.add_callback(measure)
    output = trainer.train()
    return Result(
        variant=variant,
        round=round_,
        steps=trainer.state.global_step,
        real_tokens=measure.real,
        computed_tokens=measure.computed,
        train_seconds=round(measure.seconds, 2),
        first_step_seconds=round(measure.first_step, 2),
        train_loss=round(float(output.training_loss), 4),
        # ru_maxrss is KiB on Linux.
        peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        torch_threads=torch.get_num_threads(),
        loadavg_end=round(os.getloadavg()[0], 2),
        cpus=sorted(os.sched_getaffinity(0)),
    )


def job_document(run: Run) -> dict[str, Any]:
    """The FineTuneJob a user would write; S3 URIs are placeholders, nothing is fetched."""
    from finetune_api.resource import API_VERSION, KIND  # noqa: PLC0415

    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": "bench"},
        "spec": {
            "baseModel": {"uri": "s3://bench/model/"},
            "dataset": {"train": "s3://bench/train.jsonl", "format": "chat"},
            "method": {
                "type": "lora",
                "lora": {
                    "r": LORA_R,
                    "alpha": LORA_ALPHA,
                    "dropout": LORA_DROPOUT,
                    "targetModules": ["all-linear"],
                },
            },
            "hyperparameters": {
                "epochs": 1,
                "batchSize": run.batch_size,
                "maxSeqLength": run.max_seq_length,
                "seed": run.seed,
            },
            "output": {"uri": "s3://bench/out/"},
        },
    }


def _trainer(run: Run) -> Any:
    from finetune_api.jobspec import parse_job  # noqa: PLC0415
    from finetune_trainer.config import (  # noqa: PLC0415
        prepare_process_env,
        single_process_env,
        world_size,
    )
    from finetune_trainer.dsconfig import uses_deepspeed  # noqa: PLC0415

    job = parse_job(job_document(run))
    single_process_env()
    prepare_process_env(deepspeed=uses_deepspeed(job.spec.deepspeed, world_size(os.environ)))

    import torch  # noqa: PLC0415
    from accelerate import PartialState  # noqa: PLC0415
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    from finetune_trainer import accel, prepare, train  # noqa: PLC0415
    from finetune_trainer.callbacks import DivergenceGuard  # noqa: PLC0415
    from finetune_trainer.dsconfig import plan_batch  # noqa: PLC0415
    from finetune_trainer.inputs import DatasetFiles  # noqa: PLC0415
    from finetune_trainer.sft import CountingSFTTrainer, assistant_masks_supported  # noqa: PLC0415

    state = PartialState(backend="gloo")
    lora = job.spec.method.lora
    assert lora is not None  # the bench document asks for LoRA
    ws = prepare.Workspace(run.work_dir)
    files = DatasetFiles(
        format="chat", train=str(run.train_file), train_examples=run.examples, raw_train={}
    )
    tokenizer = AutoTokenizer.from_pretrained(run.model_dir)
    masks = assistant_masks_supported(tokenizer)
    train_set = prepare.load_datasets(
        state, ws=ws, job=job, files=files, assistant_masks=masks
    ).train
    plan = plan_batch(
        job.spec.hyperparameters.batch_size,
        state.num_processes,
        job.spec.hyperparameters.micro_batch_size,
    )
    args = train.sft_arguments(
        job,
        ws=ws,
        plan=plan,
        fmt="chat",
        assistant_masks=masks,
        has_eval=False,
        accel=accel.for_this_machine(job.spec),
    )
    model = AutoModelForCausalLM.from_pretrained(
        run.model_dir, dtype=torch.float32, use_safetensors=True
    )
    prepare.check_eos(tokenizer, model.generation_config, "chat")
    return CountingSFTTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        processing_class=tokenizer,
        peft_config=train.peft_lora_config(lora),
        callbacks=[DivergenceGuard()],
        group_by_length=job.spec.hyperparameters.group_by_length,
    )


def _peft_config() -> Any:
    from peft import LoraConfig  # noqa: PLC0415

    return LoraConfig(
        r=LORA_R,
        lora_alpha=LORA_ALPHA,
        lora_dropout=LORA_DROPOUT,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def _hf_trainer(run: Run) -> Any:
    import torch  # noqa: PLC0415
    from datasets import load_dataset  # noqa: PLC0415
    from peft import get_peft_model  # noqa: PLC0415
    from transformers import (  # noqa: PLC0415
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
    )

    tokenizer = AutoTokenizer.from_pretrained(run.model_dir)
    chats = load_dataset("json", data_files=str(run.train_file), split="train")

    def tokenize(example: dict[str, Any]) -> Any:
        return tokenizer.apply_chat_template(
            example["messages"],
            tokenize=True,
            truncation=True,
            max_length=run.max_seq_length,
            return_dict=True,
        )

    tokenized = chats.map(tokenize, remove_columns=chats.column_names)
    model = AutoModelForCausalLM.from_pretrained(run.model_dir, dtype=torch.float32)
    args = TrainingArguments(
        output_dir=str(run.work_dir),
        per_device_train_batch_size=run.batch_size,
        num_train_epochs=1,
        seed=run.seed,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
    )
    return Trainer(
        model=get_peft_model(model, _peft_config()),
        args=args,
        train_dataset=tokenized,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
    )


def _trl_trainer(run: Run) -> Any:
    from datasets import load_dataset  # noqa: PLC0415
    from trl.trainer.sft_config import SFTConfig  # noqa: PLC0415
    from trl.trainer.sft_trainer import SFTTrainer  # noqa: PLC0415

    args = SFTConfig(
        output_dir=str(run.work_dir),
        per_device_train_batch_size=run.batch_size,
        num_train_epochs=1,
        max_length=run.max_seq_length,
        # TRL's default bf16 refuses a machine without a GPU; fp32 like the other variants.
        bf16=False,
        seed=run.seed,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
    )
    return SFTTrainer(
        model=str(run.model_dir),
        args=args,
        train_dataset=load_dataset("json", data_files=str(run.train_file), split="train"),
        peft_config=_peft_config(),
    )
