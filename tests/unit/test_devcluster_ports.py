"""The local cluster's fixed ports, out of the kernel's ephemeral range (devcluster/ports.py)."""

from __future__ import annotations

from devcluster import ports
from devcluster.settings import Settings


def test_the_weed_grpc_ports_are_reserved_with_the_http_ones() -> None:
    settings = Settings.from_env()
    reserved = ports.fixed_ports(settings)
    for http in (settings.s3_port, settings.weed_filer_port, settings.weed_master_port):
        assert http in reserved
        assert http + ports.WEED_GRPC_OFFSET in reserved
    assert settings.api_port in reserved


def test_what_the_sysctl_held_is_kept() -> None:
    assert ports.merged("100-200,300\n", [36443, 48888]) == "100-200,300,36443,48888"
    assert ports.merged("\n", [36443]) == "36443"
