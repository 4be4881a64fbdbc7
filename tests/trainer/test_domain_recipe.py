"""Does the demo's recipe carry over? The same job settings, pointed at a second synthetic domain
(Skerrow Sound Ferries, tests/data/skerrow/), teaching SmolLM2-135M-Instruct its facts.

The job is the demo's own manifest (examples/finetunejob-demo.yaml) with only the URIs changed,
so a recipe change that works for the demo's facts alone fails here. The same shape as the demo's
data (about as many training questions per fact, and its gate codes asked in pairs as the demo's
error codes are) with about half its facts (561 training examples, 37 held-out questions); the
recipe's 260 optimizer steps are 3.7 of its epochs, and the run costs about 13 minutes of CPU.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from devcluster.s3 import S3Endpoint
from devcluster.settings import Settings
from tests.support.domains import second_domain_files
from tests.support.manifests import finetunejob
from tests.trainer.conftest import upload_dir
from tests.trainer.inprocess import train_in_process

# Alone, the run takes 811 s, close to the suite's 900 s per test; in CI the cluster shares the
# two cores with it, and a CI run failed it (the timeout the likely cause; its output was lost).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),
    pytest.mark.usefixtures("aws_env", "no_signal_handlers"),
]

ROOT = Path(__file__).resolve().parents[2]
DEMO_JOB = ROOT / "examples" / "finetunejob-demo.yaml"
CONVERT = ROOT / "examples" / "demo" / "convert_smollm2.py"

# Measured (docs/demo-recipe.md): the recipe states 89% (33 of 37) of this domain's held-out facts
# and the base model none (at LoRA r 32 and at r 16), against 91% of the demo's 69. The floor
# leaves room for the spread between draws of the held-out questions (several facts of 37) and
# fails a recipe or trainer change that loses a third of what the recipe learns.
MIN_TUNED_ACCURACY = 0.6
MAX_BASE_ACCURACY = 0.15


@pytest.fixture(scope="session")
def smollm2(testenv_settings: Settings) -> Path:
    """SmolLM2-135M-Instruct as safetensors, converted once into the cache the demo uses."""
    out = testenv_settings.cache / "models" / "smollm2-135m-instruct"
    subprocess.run([sys.executable, str(CONVERT), str(out)], check=True, capture_output=True)
    return out


def test_demo_recipe_teaches_a_second_domain(
    s3: S3Endpoint, bucket: str, smollm2: Path, tmp_path: Path
) -> None:
    prefix = f"recipe-{uuid.uuid4().hex[:8]}"
    client = s3.client()
    for name, content in second_domain_files().items():
        if name.endswith(".jsonl"):
            client.put_object(Bucket=bucket, Key=f"{prefix}/data/{name}", Body=content.encode())
    spec = yaml.safe_load(DEMO_JOB.read_text())["spec"]
    spec["baseModel"] = {"uri": upload_dir(s3, smollm2, bucket, f"{prefix}/base")}
    spec["dataset"] |= {
        "train": f"s3://{bucket}/{prefix}/data/train.jsonl",
        "eval": f"s3://{bucket}/{prefix}/data/eval.jsonl",
    }
    spec["output"] = {"uri": f"s3://{bucket}/{prefix}/out/"}
    for cluster_only in ("storage", "resources", "runPolicy"):
        spec.pop(cluster_only, None)

    result = train_in_process(finetunejob(f"skerrow-{uuid.uuid4().hex[:6]}", "default", **spec))

    metrics = result.summary.wire()["metrics"]
    seen = f"base {metrics['baseAnswerAccuracy']:.3f}, tuned {metrics['answerAccuracy']:.3f}"
    print(f"second domain, held-out facts stated: {seen}")  # the figure for docs/demo-recipe.md
    assert metrics["baseAnswerAccuracy"] <= MAX_BASE_ACCURACY, seen
    assert metrics["answerAccuracy"] >= MIN_TUNED_ACCURACY, seen
