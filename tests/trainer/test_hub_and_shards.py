"""A job on an hf:// base model (from a stand-in Hub) and a dataset prefix of two JSONL shards in
S3: validation counts across the shards, training records the commit it used and each shard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from devcluster.s3 import S3Endpoint
from tests.support.hubserver import HubServer, serve_hub
from tests.support.manifests import trainer_job, write_job
from tests.trainer.inprocess import train_in_process
from tests.trainer.tiny import chat_examples, write_jsonl

from finetune_trainer.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("aws_env", "no_signal_handlers")]
REPO = "test-org/tiny-llama"


@pytest.fixture
def hub(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    with serve_hub() as server:
        server.add_dir(REPO, tiny_model)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield server


def upload_shards(s3: S3Endpoint, inputs: dict[str, str], tmp_path: Path) -> tuple[str, list[str]]:
    """Two shards of 32 examples under one prefix, plus an object that is not a shard."""
    bucket, prefix, client = inputs["bucket"], inputs["prefix"], s3.client()
    shards = []
    for index, seed in enumerate((1, 3)):
        path = write_jsonl(tmp_path / f"part-{index}.jsonl", chat_examples(32, seed))
        key = f"{prefix}/shards/part-{index:05d}.jsonl"
        client.upload_file(str(path), bucket, key)
        shards.append(f"s3://{bucket}/{key}")
    client.put_object(Bucket=bucket, Key=f"{prefix}/shards/README.md", Body=b"# not a shard")
    return f"s3://{bucket}/{prefix}/shards/", shards


def test_hub_model_and_sharded_data(
    s3: S3Endpoint, inputs: dict[str, str], hub: HubServer, tmp_path: Path
) -> None:
    commit = hub.repos[REPO].commit
    train_uri, shards = upload_shards(s3, inputs, tmp_path)
    document = trainer_job(
        inputs | {"model": f"hf://{REPO}", "train": train_uri}, hyperparameters={"maxSteps": 2}
    )

    code = main(["validate", "--job", str(write_job(tmp_path / "job.yaml", document))])
    report = json.loads((tmp_path / "termination-log").read_text())
    assert code == 0, report
    assert report["dataset"]["trainExamples"] == 64  # both shards

    summary = train_in_process(document).summary
    client, bucket = s3.client(), inputs["bucket"]
    out_prefix = inputs["output"].removeprefix(f"s3://{bucket}/")
    manifest = json.loads(
        client.get_object(Bucket=bucket, Key=out_prefix + "manifest.json")["Body"].read()
    )
    provenance = manifest["provenance"]
    assert provenance["baseModel"]["uri"] == f"hf://{REPO}@main"
    assert provenance["baseModel"]["revision"] == commit
    assert [s["uri"] for s in provenance["dataset"]["train"]["shards"]] == shards
    root = out_prefix + manifest["root"]

    def published(key: str) -> str:
        return client.get_object(Bucket=bucket, Key=root + key)["Body"].read().decode()

    _, front_matter, body = published("README.md").split("---\n", 2)
    assert f"at commit `{commit}`" in body
    assert yaml.safe_load(front_matter)["base_model"] == REPO  # a Hub id the Hub links to
    adapter = json.loads(published("adapter/adapter_config.json"))
    assert (adapter["base_model_name_or_path"], adapter["revision"]) == (REPO, commit)
    assert json.loads(published("metrics.json"))["baseModel"]["revision"] == commit
    assert summary.step == 2
    assert "pytorch_model.bin" not in hub.downloaded()


def test_an_empty_prefix_fails_validation(
    inputs: dict[str, str], hub: HubServer, tmp_path: Path
) -> None:
    empty = f"s3://{inputs['bucket']}/{inputs['prefix']}/nothing-here/"
    document = trainer_job(inputs | {"model": f"hf://{REPO}", "train": empty})
    code = main(["validate", "--job", str(write_job(tmp_path / "job.yaml", document))])
    report = json.loads((tmp_path / "termination-log").read_text())
    assert (code, report["reason"]) == (3, "InvalidDataset")
    assert f"dataset {empty}: no *.jsonl objects under this prefix" in report["message"]
