"""The node agent's pure parts: env resolution, entry points, /etc/hosts, pod phase."""

from __future__ import annotations

from typing import Any

import pytest
from devcluster.nodeagent import hosts
from devcluster.nodeagent.podenv import (
    ConfigError,
    command_line,
    container_env,
    expand,
    image_repository,
)
from devcluster.nodeagent.status import ContainerRecord, phase

INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
POD: dict[str, Any] = {
    "metadata": {
        "name": "work-0-abc",
        "namespace": "team-a",
        "uid": "u1",
        "annotations": {"batch.kubernetes.io/job-completion-index": "0"},
    },
    "spec": {"nodeName": "nodeagent-0"},
}


class FakeReads:
    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return {"KEY": "s3cret", "OTHER": "x"} if name == "creds" else None

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        return {"bucket": "models"} if name == "cfg" else None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)-$(B)", "1-$(B)"),
        ("$$(A)", "$(A)"),
        ("plain", "plain"),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, {"A": "1"}) == expected


def test_container_env_order_and_sources() -> None:
    container = {
        "envFrom": [{"secretRef": {"name": "creds"}, "prefix": "S_"}],
        "env": [
            {"name": "BUCKET", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "bucket"}}},
            {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "KEY"}}},
            {"name": "INDEX", "valueFrom": {"fieldRef": {"fieldPath": INDEX}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "URI", "value": "s3://$(BUCKET)/x"},
            {
                "name": "GONE",
                "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}},
            },
        ],
    }
    env = container_env(
        POD, container, FakeReads(), base={"PATH": "/bin"}, pod_ip="127.16.0.1", host_ip="127.0.0.1"
    )
    assert env == {
        "PATH": "/bin",
        "S_KEY": "s3cret",
        "S_OTHER": "x",
        "BUCKET": "models",
        "KEY": "s3cret",
        "INDEX": "0",
        "IP": "127.16.0.1",
        "URI": "s3://models/x",
    }


def test_missing_secret_is_a_config_error() -> None:
    container = {"env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "no", "key": "k"}}}]}
    with pytest.raises(ConfigError):
        container_env(POD, container, FakeReads(), base={}, pod_ip="", host_ip="")


@pytest.mark.parametrize(
    ("image", "repo"),
    [
        (
            "ghcr.io/finetune-operator/finetune-trainer:0.1.0",
            "ghcr.io/finetune-operator/finetune-trainer",
        ),
        ("localhost:5000/finetune-trainer", "localhost:5000/finetune-trainer"),
        ("finetune-trainer@sha256:abc", "finetune-trainer"),
    ],
)
def test_image_repository(image: str, repo: str) -> None:
    assert image_repository(image) == repo


def test_command_line_uses_image_map_without_command() -> None:
    container = {"image": "ghcr.io/x/finetune-trainer:0.1.0", "args": ["train", "--rank", "$(R)"]}
    image_map = {"finetune-trainer": ["python", "-m", "finetune_trainer"]}
    assert command_line(container, {"R": "1"}, image_map) == [
        "python", "-m", "finetune_trainer", "train", "--rank", "1",
    ]  # fmt: skip
    with pytest.raises(ConfigError):
        command_line({"image": "busybox"}, {}, image_map)


def test_hosts_lists_namespace_pods_with_subdomain_names() -> None:
    pods = [
        hosts.PodAddress("a", "job-0", "svc", "127.16.0.1"),
        hosts.PodAddress("a", "solo", "", "127.16.0.2"),
        hosts.PodAddress("b", "other", "", "127.16.0.3"),
    ]
    text = hosts.render("a", pods)
    assert "127.16.0.1\tjob-0.svc.a.svc.cluster.local job-0.svc.a.svc job-0.svc job-0\n" in text
    assert "127.16.0.2\tsolo\n" in text
    assert "other" not in text


def test_ip_allocator_never_hands_out_an_ip_twice() -> None:
    alloc = hosts.IpAllocator()
    first = alloc.take()
    alloc.release(first)
    assert len({first, *(alloc.take() for _ in range(300))}) == 301


@pytest.mark.parametrize(
    ("codes", "policy", "expected"),
    [
        ([None], "Never", "Pending"),
        ([0, 0], "Never", "Succeeded"),
        ([0, 1], "Never", "Failed"),
        ([1], "OnFailure", "Running"),
        ([0], "Always", "Running"),
    ],
)
def test_phase(codes: list[int | None], policy: str, expected: str) -> None:
    records = [
        ContainerRecord(f"c{i}", "img", started_at=None if c is None else "t", exit_code=c)
        for i, c in enumerate(codes)
    ]
    assert phase(records, policy, failed=False) == expected
