"""Training on the CPU with DeepSpeed: publish + reload equality, exact resume, 2 ranks, restarts.

Runs are in-process where possible (one import of torch/DeepSpeed for the whole session) and in
subprocesses where the test is about processes (torchrun, kill and restart).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from devcluster.s3 import S3Endpoint
from peft import PeftModel
from tests.support.manifests import trainer_job, write_job
from tests.support.outage import Outage
from tests.trainer.inprocess import train_in_process
from tests.trainer.tiny import chat_examples, write_jsonl
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.integrations.deepspeed import unset_hf_deepspeed_config

from finetune_trainer.checkpoints import CheckpointStore
from finetune_trainer.retry import RETRY_SECONDS_ENV

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("aws_env", "no_signal_handlers")]

PROBE = "<|im_start|>user\nreverse: red cat sun<|im_end|>\n<|im_start|>assistant\n"


def published(s3: S3Endpoint, output: str, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """Download the output after checking every file against the manifest (below its root)."""
    bucket, _, prefix = output[len("s3://") :].partition("/")
    client = s3.client()
    manifest = json.loads(
        client.get_object(Bucket=bucket, Key=prefix + "manifest.json")["Body"].read()
    )
    dest = tmp_path / "published"
    for entry in manifest["files"]:
        target = dest / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, prefix + manifest["root"] + entry["path"], str(target))
        assert hashlib.sha256(target.read_bytes()).hexdigest() == entry["sha256"], entry["path"]
    return dest, manifest


def logits(model: Any, tokenizer: Any) -> Any:
    ids = tokenizer(PROBE, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def forget_deepspeed_config() -> None:
    """Later from_pretrained calls must not partition (ZeRO-3 leaves a global behind)."""
    unset_hf_deepspeed_config()


def test_lora_zero2_publishes_weights_that_reproduce_logits(
    s3: S3Endpoint, inputs: dict[str, str], tmp_path: Path
) -> None:
    result = train_in_process(trainer_job(inputs, output={"uri": inputs["output"], "merge": True}))
    summary = result.summary.wire()
    assert summary["ok"] and summary["step"] == 8
    metrics = summary["metrics"]
    assert {"trainLoss", "evalLoss", "evalPerplexity", "baseEvalLoss", "evalTokenAccuracy"} <= set(
        metrics
    )
    assert metrics["evalLoss"] < metrics["baseEvalLoss"]
    answer_metrics = {"answerAccuracy", "baseAnswerAccuracy", "answerRougeL", "baseAnswerRougeL"}
    assert answer_metrics <= set(metrics)
    assert all(0 <= metrics[name] <= 1 for name in answer_metrics)

    out, manifest = published(s3, inputs["output"], tmp_path)
    paths = {e["path"] for e in manifest["files"]}
    assert {
        "adapter/adapter_model.safetensors",
        "adapter/adapter_config.json",
        "tokenizer.json",
        "metrics.json",
        "loss.png",
        "README.md",
        "eval/generations.jsonl",
    } <= paths
    generations = [json.loads(line) for line in (out / "eval" / "generations.jsonl").open()]
    assert len(generations) == len(chat_examples_in(s3, inputs["eval"]))
    for row in generations:
        assert row["prompt"][-1]["role"] == "user" and row["reference"]
        assert isinstance(row["baseAnswer"], str) and isinstance(row["tunedAnswer"], str)
        assert set(row["tuned"]) == {"correct", "exactMatch", "expected", "rougeL"}
        assert row["tuned"]["expected"] is not None, "graded on the record's expected strings"
    assert "## Answers" in (out / "README.md").read_text()
    published_metrics = json.loads((out / "metrics.json").read_text())
    assert published_metrics["acceleration"] == {
        "device": "cpu",
        "precision": "fp32",
        "attnImplementation": "default",
        "paddingFree": False,
        "ligerKernel": False,
    }
    history = published_metrics["history"]
    assert not any("base_answers" in entry for entry in history), "answers stay out of history"
    provenance = manifest["provenance"]
    assert provenance["seed"] == 7 and len(provenance["baseModel"]["sha256"]) == 64
    assert provenance["libraries"]["deepspeed"] != "absent"

    tokenizer = AutoTokenizer.from_pretrained(out)
    trained = result.trainer.model.eval()
    forget_deepspeed_config()
    base = AutoModelForCausalLM.from_pretrained(
        inputs_local(s3, inputs, tmp_path), dtype=torch.float32
    )
    reloaded = PeftModel.from_pretrained(base, out / "adapter").eval()
    torch.testing.assert_close(
        logits(reloaded, tokenizer), logits(trained, tokenizer), rtol=0, atol=1e-5
    )
    assert_consumers_read(out, inputs["model"], logits(trained, tokenizer), tokenizer)


def assert_consumers_read(out: Path, base_uri: str, expected: Any, tokenizer: Any) -> None:
    """What serving stacks and the Hub read (docs/serving.md): merged weights load with plain
    transformers and give the adapter's logits; the adapter and the card name the base model
    by the job's URI, not a scratch path; the card opens with Hugging Face front matter."""
    merged = AutoModelForCausalLM.from_pretrained(out / "model", dtype=torch.float32).eval()
    torch.testing.assert_close(logits(merged, tokenizer), expected, rtol=0, atol=1e-4)
    assert AutoTokenizer.from_pretrained(out / "model").encode(PROBE) == tokenizer.encode(PROBE)
    adapter_config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == base_uri
    merged_config = json.loads((out / "model" / "config.json").read_text())
    assert merged_config.get("_name_or_path") in (None, base_uri)
    _, header, _ = (out / "README.md").read_text().split("---\n", 2)
    card = yaml.safe_load(header)
    assert (card["base_model"], card["library_name"]) == (base_uri, "peft")
    assert {"finetune-operator", "lora"} <= set(card["tags"])


def chat_examples_in(s3: S3Endpoint, uri: str) -> list[dict[str, Any]]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    body = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def inputs_local(s3: S3Endpoint, inputs: dict[str, str], tmp_path: Path) -> Path:
    bucket, _, prefix = inputs["model"][len("s3://") :].partition("/")
    client = s3.client()
    dest = tmp_path / "base"
    for obj in client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
        target = dest / obj["Key"][len(prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, obj["Key"], str(target))
    return dest


def test_full_zero3_publishes_weights_that_reproduce_logits(
    s3: S3Endpoint, inputs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = trainer_job(
        inputs,
        method={"type": "full"},
        deepspeed={"zeroStage": 3},
        hyperparameters={"learningRate": 1e-3},
    )
    document["spec"]["method"] = {"type": "full"}
    result = train_in_process(document)
    assert result.summary.ok
    # Under ZeRO-3 every rank decodes together (synced); the base answers come from step 0.
    assert result.summary.wire()["metrics"]["baseAnswerAccuracy"] is not None
    out, manifest = published(s3, inputs["output"], tmp_path)
    assert {"model/model.safetensors", "eval/generations.jsonl"} <= {
        e["path"] for e in manifest["files"]
    }
    tokenizer = AutoTokenizer.from_pretrained(out)
    # ZeRO-3's hooks read the launcher's LOCAL_RANK on a forward pass; a pod keeps it for its
    # whole life, train_in_process removed it again.
    monkeypatch.setenv("LOCAL_RANK", "0")
    in_memory = logits(result.trainer.model.eval(), tokenizer)
    forget_deepspeed_config()
    reloaded = AutoModelForCausalLM.from_pretrained(out / "model", dtype=torch.float32).eval()
    torch.testing.assert_close(logits(reloaded, tokenizer), in_memory, rtol=0, atol=1e-5)


def losses(history: list[dict[str, Any]]) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in history if "loss" in e}


def test_resume_is_exact(s3: S3Endpoint, inputs: dict[str, str]) -> None:
    """fp32, one process: resuming from step 4's checkpoint logs the uninterrupted run's losses."""
    straight = train_in_process(trainer_job(inputs))
    bucket, prefix = inputs["bucket"], inputs["prefix"]
    client = s3.client()
    listing = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/out/checkpoints/step-000004/")
    for obj in listing["Contents"]:
        key = f"{prefix}/resumed/" + obj["Key"][len(f"{prefix}/out/") :]
        client.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": obj["Key"]})
    resumed = train_in_process(trainer_job(inputs | {"output": f"s3://{bucket}/{prefix}/resumed/"}))
    expected = losses(straight.trainer.state.log_history)
    got = losses(resumed.trainer.state.log_history)
    assert sorted(got) == list(range(1, 9))  # history 1-4 comes back with the checkpoint
    assert [got[s] for s in range(5, 9)] == [expected[s] for s in range(5, 9)]
    assert resumed.summary.metrics and straight.summary.metrics
    assert resumed.summary.metrics.base_eval_loss == straight.summary.metrics.base_eval_loss


@pytest.mark.parametrize(
    "deepspeed", [{"zeroStage": 2}, {"zeroStage": 3}], ids=["plain-loop", "deepspeed-zero3"]
)
def test_lora_checkpoint_leaves_out_the_frozen_base(
    s3: S3Endpoint, inputs: dict[str, str], deepspeed: dict[str, int]
) -> None:
    """A LoRA checkpoint is adapter, optimizer and RNG state: a fraction of the base's bytes
    (one process: ZeRO-2 trains in the plain loop, ZeRO-3 keeps DeepSpeed). Rank 1 keeps the
    adapter small beside the tiny base, so any copy of the base would show."""
    lora = {"type": "lora", "lora": {"r": 1, "alpha": 2, "dropout": 0.0}}
    result = train_in_process(trainer_job(inputs, method=lora, deepspeed=deepspeed))
    assert result.summary.ok
    client = s3.client()
    bucket, prefix = inputs["bucket"], inputs["prefix"]

    def sizes(key_prefix: str) -> dict[str, int]:
        listing = client.list_objects_v2(Bucket=bucket, Prefix=key_prefix)["Contents"]
        return {o["Key"][len(key_prefix) :]: o["Size"] for o in listing}

    base = sum(
        size for key, size in sizes(inputs["model"][len(f"s3://{bucket}/") :]).items()
        if key.endswith(".safetensors")
    )  # fmt: skip
    checkpoint = sizes(f"{prefix}/out/checkpoints/step-000004/")
    assert "_COMPLETE.json" in checkpoint
    assert sum(checkpoint.values()) < base / 2, checkpoint
    forget_deepspeed_config()


def test_evaluation_during_training_samples_the_eval_set(inputs: dict[str, str]) -> None:
    """Evaluations at each interval see a seeded sample of evalSampleSize records; the final
    eval loss, the one in status, sees all 16."""
    hyperparameters = {"evalSampleSize": 4, "evalEverySteps": 4}
    result = train_in_process(trainer_job(inputs, hyperparameters=hyperparameters))
    trainer = result.trainer
    assert len(trainer.eval_sample) == 4 and len(trainer.eval_dataset) == 16
    evals = [e for e in trainer.state.log_history if "eval_loss" in e]
    assert [e["step"] for e in evals] == [4, 8, 8]  # at the intervals, then the final one
    sampled, final = evals[1]["eval_loss"], evals[2]["eval_loss"]
    assert sampled != final
    assert trainer.evaluate(eval_dataset=trainer.eval_sample)["eval_loss"] == pytest.approx(sampled)
    assert trainer.evaluate()["eval_loss"] == pytest.approx(final)
    assert result.summary.metrics.eval_loss == pytest.approx(final)


def test_outage_during_checkpoint_upload_is_ridden_out(
    s3: S3Endpoint, inputs: dict[str, str], s3_outage: Outage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 goes down for 20 s as the first checkpoint upload starts; the run finishes anyway."""
    monkeypatch.setenv(RETRY_SECONDS_ENV, "180")
    upload = CheckpointStore.upload_files

    def upload_during_outage(store: CheckpointStore, local_dir: Path, step: int) -> None:
        if not s3_outage.started:
            s3_outage.begin(20)
        upload(store, local_dir, step)

    monkeypatch.setattr(CheckpointStore, "upload_files", upload_during_outage)
    result = train_in_process(trainer_job(inputs))
    assert s3_outage.started
    assert result.summary.wire()["step"] == 8
    bucket, prefix = inputs["bucket"], inputs["prefix"]
    keys = {
        o["Key"][len(prefix) + 1 :]
        for o in s3.client().list_objects_v2(Bucket=bucket, Prefix=prefix + "/out/")["Contents"]
    }
    assert {"out/manifest.json", "out/checkpoints/step-000004/_COMPLETE.json"} <= keys


def test_retry_after_publish_does_not_train(inputs: dict[str, str]) -> None:
    """A retry of a job whose output is complete (same uid and run) reports it, exit 0."""
    document = trainer_job(inputs)
    document["metadata"]["uid"] = "uid-of-this-job"
    first = train_in_process(document)
    again = train_in_process(document)
    assert again.trainer is None  # nothing was trained
    assert again.summary == first.summary
    other = trainer_job(inputs, hyperparameters={"maxSteps": 1})
    other["metadata"]["uid"] = "uid-of-this-job"
    assert train_in_process(other).trainer is not None  # another run identity trains


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def progress(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/progress", timeout=2) as reply:
            data: dict[str, Any] = json.loads(reply.read())
            return data
    except OSError:
        return None


def test_killed_run_resumes_from_its_checkpoint(
    s3: S3Endpoint, inputs: dict[str, str], tmp_path: Path, aws_env: dict[str, str]
) -> None:
    document = trainer_job(inputs, hyperparameters={"epochs": 12}, checkpointing={"everySteps": 10})
    job = write_job(tmp_path / "job.yaml", document)
    port = free_port()
    env = os.environ | {"FINETUNE_PROGRESS_PORT": str(port), "POD_IP": "127.0.0.1"}
    command = [sys.executable, "-m", "finetune_trainer", "train", "--job", str(job)]
    bucket = inputs["bucket"]
    marker = f"{inputs['prefix']}/out/checkpoints/step-000010/_COMPLETE.json"
    seen: list[dict[str, Any]] = []
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and first.poll() is None:
            if (state := progress(port)) is not None:
                seen.append(state)
            found = s3.client().list_objects_v2(Bucket=bucket, Prefix=marker).get("KeyCount", 0)
            if found:
                first.send_signal(signal.SIGKILL)
                break
            time.sleep(0.2)
        first.wait(30)
    assert first.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()[-3000:]
    assert any(s.get("stage") == "training" and s.get("step", 0) > 0 for s in seen), seen[-3:]
    assert {"totalSteps", "epoch", "loss", "updatedAt"} <= set(seen[-1])

    second = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resume: downloading checkpoint step" in second.stderr
    resumed_from = int(second.stderr.split("resume: downloading checkpoint step ")[1].split()[0])
    assert resumed_from >= 10
    summary = json.loads(Path(aws_env["FINETUNE_TERMINATION_LOG"]).read_text())
    assert summary["ok"] and summary["step"] == 96


def test_sigterm_checkpoints_the_current_step(
    s3: S3Endpoint, inputs: dict[str, str], tmp_path: Path, aws_env: dict[str, str]
) -> None:
    document = trainer_job(inputs, hyperparameters={"epochs": 12}, checkpointing={"everySteps": 50})
    job = write_job(tmp_path / "job.yaml", document)
    port = free_port()
    env = os.environ | {"FINETUNE_PROGRESS_PORT": str(port), "POD_IP": "127.0.0.1"}
    command = [sys.executable, "-m", "finetune_trainer", "train", "--job", str(job)]
    with open(tmp_path / "run.log", "w") as log:
        run = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and run.poll() is None:
            state = progress(port)
            if state and state.get("stage") == "training" and state.get("step", 0) >= 3:
                run.send_signal(signal.SIGTERM)
                break
            time.sleep(0.1)
        run.wait(120)
    output = (tmp_path / "run.log").read_text()
    assert run.returncode == 143, output[-3000:]
    report = json.loads(Path(aws_env["FINETUNE_TERMINATION_LOG"]).read_text())
    assert "stopped by SIGTERM after checkpoint step" in report["message"]
    step = int(report["message"].rsplit(" ", 1)[1])
    assert 3 <= step < 50
    marker = f"{inputs['prefix']}/out/checkpoints/step-{step:06d}/_COMPLETE.json"
    assert s3.client().list_objects_v2(Bucket=inputs["bucket"], Prefix=marker)["KeyCount"] == 1


def test_two_ranks_shard_the_data(
    inputs: dict[str, str], tmp_path: Path, aws_env: dict[str, str]
) -> None:
    """torchrun --nproc_per_node 2: 64 examples, global batch 8 → 8 steps (each rank sees 32)."""
    document = trainer_job(inputs, deepspeed={"zeroStage": 3})
    job = write_job(tmp_path / "job.yaml", document)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            f"--master_port={free_port()}",
            "-m",
            "finetune_trainer",
            "train",
            "--job",
            str(job),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(Path(aws_env["FINETUNE_TERMINATION_LOG"]).read_text())
    assert summary["step"] == 8, summary
    assert "evalLoss" in summary["metrics"]
    assert "training: world 2, micro 4 x accumulation 1 = batch 8" in done.stderr
    assert (
        "rank 0: 8 batches per epoch" in done.stderr
        and "rank 1: 8 batches per epoch" in done.stderr
    )


def prompt_completion(n: int, seed: int) -> list[dict[str, str]]:
    return [
        {"prompt": e["messages"][1]["content"], "completion": e["messages"][2]["content"]}
        for e in chat_examples(n, seed)
    ]


def test_launcher_starts_two_ranks_prompt_completion_packed(
    s3: S3Endpoint, inputs: dict[str, str], tmp_path: Path, aws_env: dict[str, str]
) -> None:
    """NPROC_PER_NODE=2 without torchrun: the entry point launches it and reports rank 0."""
    bucket, prefix = inputs["bucket"], inputs["prefix"]
    path = write_jsonl(tmp_path / "pc.jsonl", prompt_completion(64, 3))
    s3.client().upload_file(str(path), bucket, f"{prefix}/data/pc.jsonl")
    document = trainer_job(
        inputs,
        dataset={"train": f"s3://{bucket}/{prefix}/data/pc.jsonl", "eval": None, "evalSplit": 0.25},
        hyperparameters={"packing": True},
        deepspeed={"zeroStage": 1},
    )
    del document["spec"]["dataset"]["eval"]
    job = write_job(tmp_path / "job.yaml", document)
    env = os.environ | {"NPROC_PER_NODE": "2", "MASTER_PORT": str(free_port())}
    command = [sys.executable, "-m", "finetune_trainer", "train", "--job", str(job)]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=400, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(Path(aws_env["FINETUNE_TERMINATION_LOG"]).read_text())
    assert summary["ok"] and "evalLoss" in summary["metrics"], summary
    assert "training: world 2" in done.stderr, done.stderr
    metrics = s3.client().get_object(Bucket=bucket, Key=f"{prefix}/out/metrics.json")
    dataset = json.loads(metrics["Body"].read())["dataset"]
    assert dataset == {
        "format": "prompt-completion",
        "trainExamples": 48,
        "evalExamples": 16,
        "droppedExamples": 0,
    }


def test_launcher_propagates_input_error(
    s3: S3Endpoint, inputs: dict[str, str], tmp_path: Path, aws_env: dict[str, str]
) -> None:
    bucket, prefix = inputs["bucket"], inputs["prefix"]
    s3.client().put_object(Bucket=bucket, Key=f"{prefix}/data/bad.jsonl", Body=b'{"text": 1}\n')
    document = trainer_job(inputs, dataset={"train": f"s3://{bucket}/{prefix}/data/bad.jsonl"})
    job = write_job(tmp_path / "job.yaml", document)
    env = os.environ | {"NPROC_PER_NODE": "2", "MASTER_PORT": str(free_port())}
    command = [sys.executable, "-m", "finetune_trainer", "train", "--job", str(job)]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 3, done.stderr[-4000:]
    report = json.loads(Path(aws_env["FINETUNE_TERMINATION_LOG"]).read_text())
    assert report["reason"] == "InvalidDataset" and "line 1: " in report["message"]


def test_two_nodes_each_upload_their_shards(
    s3: S3Endpoint, inputs: dict[str, str], tmp_path: Path
) -> None:
    """NNODES=2 on one machine (separate scratch dirs, like two pods): both nodes' ZeRO shards
    reach the checkpoint, rank 0 publishes, node 1 reports its rank."""
    job = write_job(tmp_path / "job.yaml", trainer_job(inputs))
    common = os.environ | {"NNODES": "2", "NPROC_PER_NODE": "1", "MASTER_PORT": str(free_port())}
    nodes = []
    for rank in (0, 1):
        env = common | {
            "NODE_RANK": str(rank),
            "FINETUNE_SCRATCH": str(tmp_path / f"node{rank}"),
            "FINETUNE_TERMINATION_LOG": str(tmp_path / f"term{rank}"),
        }
        log = open(tmp_path / f"node{rank}.log", "w")  # noqa: SIM115 (closed below)
        command = [sys.executable, "-m", "finetune_trainer", "train", "--job", str(job)]
        nodes.append(
            (subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT), log)
        )
    for process, log in nodes:
        process.wait(400)
        log.close()
    for rank, (process, _) in enumerate(nodes):
        assert process.returncode == 0, (tmp_path / f"node{rank}.log").read_text()[-3000:]
    summary = json.loads((tmp_path / "term0").read_text())
    assert summary["step"] == 8 and "evalLoss" in summary["metrics"]
    assert json.loads((tmp_path / "term1").read_text()) == {"ok": True, "kind": "train", "rank": 1}
    prefix = f"{inputs['prefix']}/out/checkpoints/step-000008/"
    listing = s3.client().list_objects_v2(Bucket=inputs["bucket"], Prefix=prefix)
    keys = [o["Key"][len(prefix) :] for o in listing["Contents"]]
    assert "_COMPLETE.json" in keys
    assert any("zero_pp_rank_1" in k for k in keys) and any("zero_pp_rank_0" in k for k in keys)
