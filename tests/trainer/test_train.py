"""Training on the CPU with DeepSpeed: publish + reload equality, exact resume, 2 ranks, restarts.

Runs are in-process where possible (one import of torch/DeepSpeed for the whole session) and in
subprocesses where the test is about processes (torchrun, kill and restart).
"""

from __future__ import annotations

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
from tests.cluster.s3 import S3Endpoint
from tests.trainer.conftest import job_document, write_job

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("aws_env", "no_signal_handlers")]

PROBE = "<|im_start|>user\nreverse: red cat sun<|im_end|>\n<|im_start|>assistant\n"


def train_in_process(document: dict[str, Any]) -> Any:
    from finetune_trainer.config import single_process_env
    from finetune_trainer.jobspec import parse_job
    from finetune_trainer.train import run

    single_process_env()
    return run(parse_job(document))


def published(s3: S3Endpoint, output: str, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """Download the output after checking every file against the manifest."""
    import hashlib

    bucket, _, prefix = output[len("s3://") :].partition("/")
    client = s3.client()
    manifest = json.loads(
        client.get_object(Bucket=bucket, Key=prefix + "manifest.json")["Body"].read()
    )
    dest = tmp_path / "published"
    for entry in manifest["files"]:
        target = dest / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, prefix + entry["path"], str(target))
        assert hashlib.sha256(target.read_bytes()).hexdigest() == entry["sha256"], entry["path"]
    return dest, manifest


def logits(model: Any, tokenizer: Any) -> Any:
    import torch

    ids = tokenizer(PROBE, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def forget_deepspeed_config() -> None:
    """Later from_pretrained calls must not partition (ZeRO-3 leaves a global behind)."""
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    unset_hf_deepspeed_config()


def test_lora_zero2_publishes_weights_that_reproduce_logits(
    s3: S3Endpoint, inputs: dict[str, str], tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result = train_in_process(job_document(inputs))
    summary = result.summary
    assert summary["ok"] and summary["step"] == 8
    metrics = summary["metrics"]
    assert {"trainLoss", "evalLoss", "evalPerplexity", "baseEvalLoss", "evalTokenAccuracy"} <= set(
        metrics
    )
    assert metrics["evalLoss"] < metrics["baseEvalLoss"]

    out, manifest = published(s3, inputs["output"], tmp_path)
    paths = {e["path"] for e in manifest["files"]}
    assert {
        "adapter/adapter_model.safetensors",
        "adapter/adapter_config.json",
        "tokenizer.json",
        "metrics.json",
        "loss.png",
        "README.md",
    } <= paths
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
    s3: S3Endpoint, inputs: dict[str, str], tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    document = job_document(
        inputs,
        method={"type": "full"},
        deepspeed={"zeroStage": 3},
        hyperparameters={"learningRate": 1e-3},
    )
    document["spec"]["method"] = {"type": "full"}
    result = train_in_process(document)
    assert result.summary["ok"]
    out, manifest = published(s3, inputs["output"], tmp_path)
    assert "model/model.safetensors" in {e["path"] for e in manifest["files"]}
    tokenizer = AutoTokenizer.from_pretrained(out)
    in_memory = logits(result.trainer.model.eval(), tokenizer)
    forget_deepspeed_config()
    reloaded = AutoModelForCausalLM.from_pretrained(out / "model", dtype=torch.float32).eval()
    torch.testing.assert_close(logits(reloaded, tokenizer), in_memory, rtol=0, atol=1e-5)


def losses(history: list[dict[str, Any]]) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in history if "loss" in e}


def test_resume_is_exact(s3: S3Endpoint, inputs: dict[str, str]) -> None:
    """fp32, one process: resuming from step 4's checkpoint logs the uninterrupted run's losses."""
    straight = train_in_process(job_document(inputs))
    bucket, prefix = inputs["bucket"], inputs["prefix"]
    client = s3.client()
    listing = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/out/checkpoints/step-000004/")
    for obj in listing["Contents"]:
        key = f"{prefix}/resumed/" + obj["Key"][len(f"{prefix}/out/") :]
        client.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": obj["Key"]})
    resumed = train_in_process(job_document(inputs | {"output": f"s3://{bucket}/{prefix}/resumed/"}))
    expected = losses(straight.trainer.state.log_history)
    got = losses(resumed.trainer.state.log_history)
    assert sorted(got) == list(range(1, 9))  # history 1-4 comes back with the checkpoint
    assert [got[s] for s in range(5, 9)] == [expected[s] for s in range(5, 9)]
    assert resumed.summary["metrics"]["baseEvalLoss"] == straight.summary["metrics"]["baseEvalLoss"]


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
    document = job_document(
        inputs, hyperparameters={"epochs": 12}, checkpointing={"everySteps": 10}
    )
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


def test_two_ranks_shard_the_data(
    inputs: dict[str, str], tmp_path: Path, aws_env: dict[str, str]
) -> None:
    """torchrun --nproc_per_node 2: 64 examples, global batch 8 → 8 steps (each rank sees 32)."""
    document = job_document(inputs, deepspeed={"zeroStage": 3})
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
    assert "training: world 2, micro 4 × accumulation 1 = batch 8" in done.stderr
    assert (
        "rank 0: 8 batches per epoch" in done.stderr
        and "rank 1: 8 batches per epoch" in done.stderr
    )
