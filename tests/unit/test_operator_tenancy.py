"""What a tenant's spec may ask of the cluster: secretRef required, endpoints allow-listed."""

from __future__ import annotations

import pytest

from finetune_api.jobspec import Storage
from finetune_api.reasons import PolicyReason
from finetune_operator.tenancy import endpoint_allowed, normalise_endpoint, storage_refusal

DEFAULT = "http://seaweedfs.storage.svc:8333"


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("http://s3.example.com", "http://s3.example.com"),
        ("HTTP://S3.Example.com:80/", "http://s3.example.com"),
        ("https://s3.example.com:443", "https://s3.example.com"),
        ("https://s3.example.com:8443/base//", "https://s3.example.com:8443/base"),
        ("http://[::1]:8333", "http://[::1]:8333"),
        ("http://host:notaport", "http://host:notaport"),
    ],
)
def test_normalise_endpoint(url: str, normal: str) -> None:
    assert normalise_endpoint(url) == normal


@pytest.mark.parametrize(
    ("endpoint", "allowed", "ok"),
    [
        ("", (), True),  # the operator's default applies
        (DEFAULT, (), True),
        ("http://SeaweedFS.storage.svc:8333/", (), True),
        ("http://seaweedfs.storage.svc:9000", (), False),
        ("https://seaweedfs.storage.svc:8333", (), False),
        ("http://169.254.169.254", (), False),
        ("http://minio.team-a.svc:9000", ("http://minio.team-a.svc:9000",), True),
        ("http://minio.team-b.svc:9000", ("http://minio.team-a.svc:9000",), False),
        ("http://anything:1", ("*",), True),
        ("http://seaweedfs.storage.svc:8333@evil.example.com", (), False),
    ],
)
def test_endpoint_allowed(endpoint: str, allowed: tuple[str, ...], ok: bool) -> None:
    assert endpoint_allowed(endpoint, DEFAULT, allowed) is ok


def test_with_aws_as_the_default_only_an_empty_endpoint_is_allowed() -> None:
    assert endpoint_allowed("", "", ())
    assert not endpoint_allowed("https://s3.amazonaws.com", "", ())


WITH_SECRET = {"secretRef": {"name": "s3"}}


@pytest.mark.parametrize(
    ("storage", "require", "reason", "names"),
    [
        ({}, True, PolicyReason.SECRET_REF_REQUIRED, "spec.storage.secretRef"),
        ({}, False, None, ""),
        (WITH_SECRET, True, None, ""),
        (WITH_SECRET | {"endpoint": DEFAULT}, True, None, ""),
        (
            WITH_SECRET | {"endpoint": "http://evil.example.com"},
            True,
            PolicyReason.ENDPOINT_NOT_ALLOWED,
            "spec.storage.endpoint http://evil.example.com",
        ),
        (
            {"endpoint": "http://evil.example.com"},
            False,
            PolicyReason.ENDPOINT_NOT_ALLOWED,
            "spec.storage.endpoint",
        ),
    ],
    ids=[
        "no-secret-required",
        "no-secret-allowed",
        "secret",
        "default-endpoint",
        "other-endpoint",
        "other-endpoint-no-secret",
    ],
)
def test_storage_refusal_names_the_field(
    storage: dict[str, object], require: bool, reason: PolicyReason | None, names: str
) -> None:
    refusal = storage_refusal(
        Storage.model_validate(storage),
        require_secret_ref=require,
        default_endpoint=DEFAULT,
        allowed_endpoints=(),
    )
    if reason is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert refusal.reason == reason
        assert names in refusal.message
