"""One rank's training run: fetch inputs, train with TRL + DeepSpeed, checkpoint, publish.

Each rank runs this; torchrun (``launch.py``) or the single-process env starts them. Local rank 0
of each node downloads what its node needs, global rank 0 serves progress, writes checkpoint
markers and publishes. The distributed state is built here, before ``TrainingArguments``: on a
CPU under torchrun, accelerate otherwise sees a world size of 1 while DeepSpeed sees the real one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Sized
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
from accelerate import PartialState
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl.trainer.sft_config import SFTConfig

from finetune_api.jobspec import FineTuneJob, LoraSpec
from finetune_api.reports import CheckpointRef, Stage, TrainSummary
from finetune_trainer.accel import Acceleration, for_this_machine
from finetune_trainer.answers import (
    AnswerEval,
    AnswerSession,
    BaseAnswers,
    answer_records,
    base_answers,
    without_answers,
)
from finetune_trainer.callbacks import CheckpointSync, DivergenceGuard, ProgressReporter, Terminate
from finetune_trainer.checkpoints import CheckpointStore
from finetune_trainer.config import (
    prepare_process_env,
    scratch_dir,
    threads_per_rank,
    tokenizer_processes,
    world_size,
)
from finetune_trainer.dsconfig import (
    MAX_GRAD_NORM,
    BatchPlan,
    build_ds_config,
    plan_batch,
    uses_deepspeed,
)
from finetune_trainer.errors import InvalidDataset, Preempted
from finetune_trainer.evaluate import BaselineEval, final_metrics
from finetune_trainer.inputs import DatasetFiles, ModelSource, fetch_dataset, fetch_model
from finetune_trainer.prepare import Workspace, check_eos, load_datasets, tokenization_options
from finetune_trainer.progress_server import ProgressServer
from finetune_trainer.publish import earlier_output, publish
from finetune_trainer.sft import CountingSFTTrainer, assistant_masks_supported
from finetune_trainer.storage import Storage
from finetune_trainer.tracking import (
    TensorBoardUpload,
    report_to,
    tracker_env,
    use_tensorboard_dir,
)
from finetune_trainer.uris import ObjectUri

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """The termination summary, and the trainer (its in-memory model) for in-process callers."""

    summary: TrainSummary
    trainer: Any


@dataclass
class Fetched:
    """What local rank 0 of a node prepared; written to disk for the node's other ranks."""

    dataset: dict[str, Any]
    resume_step: int | None
    base_model: dict[str, Any]

    @property
    def files(self) -> DatasetFiles:
        return DatasetFiles(**self.dataset)

    @property
    def model_source(self) -> ModelSource:
        return ModelSource(**self.base_model)


def fetch_inputs(
    state: Any, ws: Workspace, storage: Storage, job: FineTuneJob, store: CheckpointStore
) -> Fetched:
    """Local rank 0 downloads model, data and the newest checkpoint; the node's ranks wait."""
    marker = ws.root / "fetched.json"
    with state.local_main_process_first():
        if state.is_local_main_process:
            # Leftovers of an earlier attempt in the same scratch dir must not be resumed from.
            shutil.rmtree(ws.run, ignore_errors=True)
            shutil.rmtree(ws.final, ignore_errors=True)
            marker.unlink(missing_ok=True)
            source = fetch_model(storage, job.spec.base_model.uri, ws.model, weights=True)
            files = fetch_dataset(storage, job.spec, ws.data)
            step = store.newest_resumable()
            if step is not None:
                log.info("resume: downloading checkpoint step %d", step)
                store.download(step, ws.checkpoint(step))
            marker.write_text(json.dumps(asdict(Fetched(asdict(files), step, asdict(source)))))
    return Fetched(**json.loads(marker.read_text()))


TRAJECTORY_FIELDS = ("baseModel", "dataset", "method", "hyperparameters", "deepspeed", "resources")
"""What decides the training trajectory (and the checkpoint's shard layout); output,
checkpointing and run policy do not, so an edited policy does not discard checkpoints. The
job's uid is checked besides (``CheckpointStore``)."""


def run_identity(job: FineTuneJob) -> str:
    """A digest of the resolved spec's trajectory fields: retries of one job share it; a job
    with other data, model or hyperparameters under the same output URI does not."""
    spec = job.rendered()["spec"]
    document = json.dumps({k: spec.get(k) for k in TRAJECTORY_FIELDS}, sort_keys=True)
    return hashlib.sha256(document.encode()).hexdigest()[:16]


def sft_arguments(
    job: FineTuneJob,
    *,
    ws: Workspace,
    plan: BatchPlan,
    fmt: str,
    assistant_masks: bool,
    has_eval: bool,
    accel: Acceleration,
    dataset_num_proc: int | None = None,
) -> Any:
    spec = job.spec
    hp = spec.hyperparameters
    return SFTConfig(
        output_dir=str(ws.run),
        per_device_train_batch_size=plan.micro_batch,
        per_device_eval_batch_size=plan.micro_batch,
        gradient_accumulation_steps=plan.grad_accum,
        num_train_epochs=hp.epochs,
        max_steps=hp.max_steps or -1,
        learning_rate=hp.learning_rate,
        lr_scheduler_type=hp.lr_scheduler,
        # A float below 1 is a ratio of the total steps (transformers 5); 1.0 would mean one step.
        warmup_steps=min(hp.warmup_ratio, 0.999),
        weight_decay=hp.weight_decay,
        max_grad_norm=MAX_GRAD_NORM,
        seed=hp.seed,
        data_seed=hp.seed,
        deepspeed=(
            build_ds_config(spec.deepspeed, plan, bf16=accel.bf16, fp16=accel.fp16)
            if uses_deepspeed(spec.deepspeed, plan.world_size)
            else None
        ),
        accelerator_config={"use_configured_state": True},
        logging_steps=1,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=hp.eval_every_steps or spec.checkpointing.every_steps,
        save_strategy="steps",
        save_steps=spec.checkpointing.every_steps,
        save_total_limit=1,
        report_to=report_to(spec.tracking) or "none",
        run_name=job.metadata.name,  # the run's name in MLflow and W&B
        disable_tqdm=True,
        dataloader_num_workers=0,
        packing=hp.packing,
        dataset_num_proc=dataset_num_proc,
        # Activation checkpointing recomputes the forward pass (about 20% more compute); TRL
        # turns it on by default, but nothing here needs the memory it saves.
        gradient_checkpointing=False,
        **tokenization_options(job, fmt, assistant_masks),
        **accel.sft_options(),
    )


def peft_lora_config(lora: LoraSpec) -> LoraConfig:
    targets = list(lora.target_modules)
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=targets[0] if targets == ["all-linear"] else targets,
        task_type="CAUSAL_LM",
    )


def start_progress(state: Any) -> ProgressServer | None:
    """Global rank 0 serves progress; the other ranks have none."""
    if not state.is_main_process:
        return None
    progress = ProgressServer()
    progress.serve()
    return progress


def build_trainer(  # noqa: PLR0917 (one call site; the run's pieces)
    job: FineTuneJob,
    state: Any,
    ws: Workspace,
    files: DatasetFiles,
    progress: ProgressServer | None,
    sync: CheckpointSync,
    *,
    accel: Acceleration,
) -> tuple[Any, BatchPlan, tuple[int, int], AnswerSession | None]:
    """The SFT trainer with its callbacks, its batch plan, the train and eval examples after
    any evalSplit (before TRL drops the ones left without a target token), and what answer-level
    evaluation grades."""
    spec = job.spec
    tokenizer = AutoTokenizer.from_pretrained(ws.model, trust_remote_code=False)
    assistant_masks = assistant_masks_supported(tokenizer)
    splits = load_datasets(state, ws=ws, job=job, files=files, assistant_masks=assistant_masks)
    train_set, eval_set = splits.train, splits.eval
    plan = plan_batch(
        spec.hyperparameters.batch_size, state.num_processes, spec.hyperparameters.micro_batch_size
    )
    args = sft_arguments(
        job,
        ws=ws,
        plan=plan,
        fmt=files.format,
        assistant_masks=assistant_masks,
        has_eval=eval_set is not None,
        accel=accel,
        dataset_num_proc=tokenizer_processes(os.environ, len(train_set)),
    )
    # After the arguments: under ZeRO-3 they make from_pretrained partition at load time.
    model = AutoModelForCausalLM.from_pretrained(
        ws.model,
        dtype=accel.weights_dtype(),
        use_safetensors=True,
        trust_remote_code=False,
        **accel.model_options(),
    )
    check_eos(tokenizer, model.generation_config, files.format)
    callbacks: list[Any] = [DivergenceGuard(), sync]
    if progress is not None:
        callbacks.append(ProgressReporter(progress))
    trainer = CountingSFTTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=peft_lora_config(spec.method.lora) if spec.method.lora else None,
        callbacks=callbacks,
        group_by_length=spec.hyperparameters.group_by_length,
        eval_sample_size=spec.hyperparameters.eval_sample_size,
    )
    if len(cast("Sized", trainer.train_dataset)) == 0:
        raise InvalidDataset(
            f"no training examples left: all {trainer.dropped.get('train', 0)} have every "
            f"target token past maxSeqLength {spec.hyperparameters.max_seq_length}"
        )
    trainer.add_callback(BaselineEval(trainer))
    session = answer_session(job, state, splits.graded)
    if session is not None:
        trainer.add_callback(BaseAnswers(trainer, session))
    examples = (len(train_set), len(eval_set) if eval_set is not None else 0)
    return trainer, plan, examples, session


def answer_session(job: FineTuneJob, state: Any, graded: Any) -> AnswerSession | None:
    """What answer-level evaluation grades, or None when the spec or the data rule it out."""
    settings = job.spec.evaluation
    if not settings.answers or graded is None:
        return None
    records = answer_records(graded, settings.max_examples)
    if not records:
        log.info("answer-level evaluation skipped: the eval records have no prompt (text)")
        return None
    return AnswerSession(
        records=records,
        max_new_tokens=settings.max_new_tokens,
        synced=job.spec.deepspeed.zero_stage == 3,
        is_main=state.is_main_process,
    )


def train(trainer: Any, state: Any, plan: BatchPlan, ws: Workspace, fetched: Fetched) -> None:
    """The training loop, resumed from the fetched checkpoint if there is one."""
    batches = len(trainer.get_train_dataloader())
    log.info("rank %d: %d batches per epoch", state.process_index, batches)
    resume = ws.checkpoint(fetched.resume_step) if fetched.resume_step is not None else None
    log.info(
        "training: world %d, micro %d x accumulation %d = batch %d, resume from %s",
        plan.world_size,
        plan.micro_batch,
        plan.grad_accum,
        plan.global_batch,
        resume,
    )
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)


def finish(  # noqa: PLR0917 (one call site; the run's pieces)
    job: FineTuneJob,
    state: Any,
    ws: Workspace,
    storage: Storage,
    trainer: Any,
    progress: ProgressServer | None,
    fetched: Fetched,
    plan: BatchPlan,
    examples: tuple[int, int],
    session: AnswerSession | None,
    accel: Acceleration,
) -> TrainSummary:
    """Final eval, tuned answers, the collective save, and publishing on global rank 0.

    examples: train and eval examples after any evalSplit, before TRL drops masked ones.
    """
    final_eval = None
    if trainer.eval_dataset is not None:
        step = trainer.state.global_step
        done = [e for e in trainer.state.log_history if "eval_loss" in e and e.get("step") == step]
        if done and not trainer.samples_eval:  # the Trainer already evaluated the last step
            final_eval = done[-1]
        else:
            if progress is not None:
                progress.update(stage=Stage.EVALUATING)
            final_eval = trainer.evaluate()
    graded = grade_answers(trainer, session)
    if progress is not None:
        progress.update(stage=Stage.PUBLISHING)
    weights_dir = ws.final / ("adapter" if job.spec.method.type == "lora" else "model")
    trainer.save_model(str(weights_dir))  # collective: ZeRO-3 gathers the weights here
    summary = TrainSummary(rank=state.process_index)
    if state.is_main_process:
        metrics = final_metrics(trainer.state.log_history, final_eval)
        if graded is not None:
            metrics |= graded.metrics()
        published = publish(
            storage=storage,
            job=job,
            ws_root=ws.root,
            weights_dir=weights_dir,
            tokenizer=trainer.processing_class,
            model=trainer.model,
            metrics=metrics,
            history=without_answers(trainer.state.log_history),
            answers=graded,
            files=fetched.files,
            model_source=fetched.model_source,
            dataset={
                "format": fetched.files.format,
                "trainExamples": examples[0] - trainer.dropped.get("train", 0),
                "evalExamples": examples[1] - trainer.dropped.get("eval", 0),
                "droppedExamples": sum(trainer.dropped.values()),
            },
            plan=plan,
            ds_config=trainer.args.hf_deepspeed_config.config if trainer.args.deepspeed else None,
            run=run_identity(job),
            step=trainer.state.global_step,
            acceleration=accel.record(),
        )
        summary = published
        if progress is not None:
            progress.update(stage=Stage.DONE, eval_loss=metrics.get("evalLoss"))
    state.wait_for_everyone()
    return summary


def grade_answers(trainer: Any, session: AnswerSession | None) -> AnswerEval | None:
    """The tuned model's answers beside the base model's, on global rank 0 (None elsewhere)."""
    if session is None:
        return None
    tuned = session.answers(trainer.model, trainer.processing_class)
    base = base_answers(trainer.state.log_history)
    if tuned is None or base is None:
        return None
    return AnswerEval(session.records, base, tuned)


def use_cpu_allotment(state: Any) -> None:
    """Size torch's intra-op pool from the pod's CPUs (``config.threads_per_rank``), logged."""
    threads = threads_per_rank(os.environ)
    if threads is not None:
        torch.set_num_threads(threads)
    log.info(
        "rank %d: %d torch threads (%s)",
        state.process_index,
        torch.get_num_threads(),
        "the pod's CPU allotment" if threads is not None else "no allotment: torch's default",
    )


def run(job: FineTuneJob) -> RunResult:
    """Train this rank's share; the summary is the full one on global rank 0."""
    prepare_process_env(deepspeed=uses_deepspeed(job.spec.deepspeed, world_size(os.environ)))
    accel = for_this_machine(job.spec)
    state = PartialState(backend="gloo" if accel.device == "cpu" else None)
    use_cpu_allotment(state)
    progress = start_progress(state)
    terminate = Terminate()
    terminate.install()
    try:
        spec = job.spec
        ws = Workspace(scratch_dir(job.metadata.name))
        storage = Storage()
        run = run_identity(job)
        earlier = earlier_output(storage, job, run, main_process=state.is_main_process)
        if earlier is not None:
            log.info("%s already holds this job's complete output; not training again", earlier)
            own = earlier if state.is_main_process else TrainSummary(rank=state.process_index)
            return RunResult(own, None)
        store = CheckpointStore(
            storage,
            ObjectUri.parse(spec.output.uri),
            spec.checkpointing.keep,
            run,
            job.metadata.uid,
        )
        fetched = fetch_inputs(state, ws, storage, job, store)
        if progress is not None and fetched.resume_step is not None:
            uri = f"{store.uri(fetched.resume_step)}/"
            progress.update(last_checkpoint=CheckpointRef(uri=uri, step=fetched.resume_step))
        sync = CheckpointSync(store, terminate, progress)
        # Read by the trackers' callbacks when the trainer builds them (global rank 0 logs).
        os.environ.update(tracker_env(spec.tracking))
        if spec.tracking.tensorboard:
            use_tensorboard_dir(ws.tensorboard)
        trainer, plan, examples, session = build_trainer(
            job, state, ws, fetched.files, progress, sync, accel=accel
        )
        if spec.tracking.tensorboard:
            output = ObjectUri.parse(spec.output.uri)
            trainer.add_callback(TensorBoardUpload(storage, output, ws.tensorboard, trainer))
        train(trainer, state, plan, ws, fetched)
        if sync.stopped_by_signal:
            raise Preempted(f"stopped by SIGTERM after checkpoint step {trainer.state.global_step}")
        summary = finish(
            job, state, ws, storage, trainer, progress, fetched, plan, examples, session, accel
        )
        return RunResult(summary, trainer)
    finally:
        if progress is not None:
            progress.close()
