"""Command-line flags, their FINETUNE_* environment equivalents, and the image allow-list."""

from __future__ import annotations

import pytest

from finetune_operator.builders import OperatorPeer
from finetune_operator.config import DEFAULT_TRAINER_IMAGE, parse_config


def test_defaults() -> None:
    config = parse_config([], {})
    assert config.namespaces == ()
    assert config.trainer_image == DEFAULT_TRAINER_IMAGE
    assert config.allowed_images == (DEFAULT_TRAINER_IMAGE,)
    assert (config.max_running_per_namespace, config.metrics_port, config.liveness_port) == (
        0,
        9090,
        8080,
    )
    assert config.progress_interval == 10
    assert config.log_level == "INFO"
    assert (config.trainer_grace_period, config.blocked_pod_timeout) == (300, 300)
    assert (config.stall_timeout, config.leftover_ranks_grace) == (1800, 120)
    assert config.require_secret_ref is True
    assert config.allowed_s3_endpoints == ()
    assert (config.default_cpu_request, config.default_memory_request) == ("500m", "1Gi")
    assert (config.shm_size_limit, config.scratch_size_limit) == ("2Gi", "100Gi")
    assert (config.peering, config.peering_lifetime) == ("", 30)


def test_peering_from_flag_or_environment() -> None:
    config = parse_config(["--peering", "ft-system.ft", "--peering-lifetime", "15"], {})
    assert (config.peering, config.peering_lifetime) == ("ft-system.ft", 15)
    env = {"FINETUNE_PEERING": "ops", "FINETUNE_PEERING_LIFETIME": "45"}
    assert (parse_config([], env).peering, parse_config([], env).peering_lifetime) == ("ops", 45)
    with pytest.raises(SystemExit):
        parse_config(["--peering-lifetime", "5"], {})


def test_stall_timeout_from_flag_or_environment() -> None:
    assert parse_config(["--stall-timeout", "0"], {}).stall_timeout == 0
    assert parse_config([], {"FINETUNE_STALL_TIMEOUT": "600"}).stall_timeout == 600


def test_leftover_ranks_grace_from_flag_or_environment() -> None:
    assert parse_config(["--leftover-ranks-grace", "5"], {}).leftover_ranks_grace == 5
    env = {"FINETUNE_LEFTOVER_RANKS_GRACE": "30"}
    assert parse_config([], env).leftover_ranks_grace == 30


def test_flags() -> None:
    config = parse_config(
        [
            "--namespace",
            "team-a",
            "--namespace",
            "team-b",
            "--trainer-image",
            "img:2",
            "--allowed-image",
            "img:2",
            "--allowed-image",
            "registry.example/*",
            "--max-running-per-namespace",
            "3",
            "--default-s3-endpoint",
            "http://s3:8333",
            "--hf-endpoint",
            "https://hub-mirror.example",
            "--log-level",
            "debug",
            "--metrics-port",
            "0",
            "--liveness-port",
            "0",
            "--progress-interval",
            "2.5",
            "--trainer-grace-period",
            "900",
            "--blocked-pod-timeout",
            "120",
        ],
        {},
    )
    assert config.namespaces == ("team-a", "team-b")
    assert config.allowed_images == ("img:2", "registry.example/*")
    assert config.max_running_per_namespace == 3
    assert config.default_s3_endpoint == "http://s3:8333"
    assert config.hf_endpoint == "https://hub-mirror.example"
    assert (config.log_level, config.metrics_port, config.liveness_port) == ("DEBUG", 0, 0)
    assert config.progress_interval == 2.5
    assert (config.trainer_grace_period, config.blocked_pod_timeout) == (900, 120)


def test_environment_and_flag_precedence() -> None:
    env = {
        "FINETUNE_NAMESPACE": "a, b",
        "FINETUNE_ALLOWED_IMAGE": "x,y*",
        "FINETUNE_MAX_RUNNING_PER_NAMESPACE": "4",
        "FINETUNE_TRAINER_IMAGE": "env-img",
        "FINETUNE_TRAINER_GRACE_PERIOD": "600",
        "FINETUNE_BLOCKED_POD_TIMEOUT": "60",
    }
    config = parse_config(["--trainer-image", "flag-img"], env)
    assert (config.trainer_grace_period, config.blocked_pod_timeout) == (600, 60)
    assert config.namespaces == ("a", "b")
    assert config.allowed_images == ("x", "y*")
    assert config.max_running_per_namespace == 4
    assert config.trainer_image == "flag-img"


@pytest.mark.parametrize(
    ("allowed", "image", "ok"),
    [
        (["img:1"], "img:1", True),
        (["img:1"], "img:2", False),
        (["registry.example/team/*"], "registry.example/team/trainer:3", True),
        (["registry.example/team/*"], "registry.example/other/trainer:3", False),
        (["*"], "anything", True),
    ],
)
def test_image_allow_list(allowed: list[str], image: str, ok: bool) -> None:
    args = [a for entry in allowed for a in ("--allowed-image", entry)]
    assert parse_config(args, {}).image_allowed(image) is ok


@pytest.mark.parametrize(
    "argv",
    [
        ["--max-running-per-namespace", "-1"],
        ["--progress-interval", "0"],
        ["--trainer-grace-period", "-1"],
        ["--blocked-pod-timeout", "0"],
        ["--stall-timeout", "-1"],
        ["--leftover-ranks-grace", "-1"],
        ["--require-secret-ref", "maybe"],
        ["--default-cpu-request", "lots"],
        ["--default-memory-request", "1 GiB"],
        ["--shm-size-limit", "-1Gi"],
        ["--scratch-size-limit", "100GB"],
        ["--audit-interval", "0"],
        ["--trainer-network-policy=true", "--operator-namespace", "ops"],
        ["--trainer-network-policy=true", "--operator-pod-labels", "app=op"],
        ["--trainer-network-policy=true", "--operator-namespace=ops", "--operator-pod-labels=app"],
    ],
)
def test_rejects_bad_values(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_config(argv, {})


def test_tenant_settings_from_flags_or_environment() -> None:
    env = {
        "FINETUNE_REQUIRE_SECRET_REF": "false",
        "FINETUNE_ALLOWED_S3_ENDPOINT": "http://a:8333, https://b",
        "FINETUNE_SCRATCH_SIZE_LIMIT": "",
    }
    config = parse_config([], env)
    assert config.require_secret_ref is False
    assert config.allowed_s3_endpoints == ("http://a:8333", "https://b")
    assert config.scratch_size_limit == ""
    flags = ["--require-secret-ref=true", "--allowed-s3-endpoint", "*", "--shm-size-limit=512Mi"]
    config = parse_config(flags, env)
    assert config.require_secret_ref is True
    assert config.allowed_s3_endpoints == ("*",)
    assert config.shm_size_limit == "512Mi"


def test_trainer_network_policy_names_the_operators_pods() -> None:
    assert parse_config([], {}).operator_peer is None
    flags = [
        "--trainer-network-policy=true",
        "--operator-namespace=finetune-system",
        "--operator-pod-labels",
        "app.kubernetes.io/name=finetune-operator, app.kubernetes.io/instance=ft",
    ]
    peer = parse_config(flags, {}).operator_peer
    assert peer == OperatorPeer(
        "finetune-system",
        (("app.kubernetes.io/name", "finetune-operator"), ("app.kubernetes.io/instance", "ft")),
    )
