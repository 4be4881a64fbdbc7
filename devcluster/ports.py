"""Keep the local cluster's fixed listening ports out of the kernel's ephemeral range.

Most of them (the apiserver's 36443, SeaweedFS's 38333 and its gRPC ports at +10000) lie in
Linux's default ephemeral range, 32768-60999, from which the kernel picks the local port of every
outgoing connection. A component that listens late then finds its port taken: the SeaweedFS filer
died with "bind: address already in use" on 48888, held by kube-controller-manager's connection
to the apiserver. Listing the ports in ``ip_local_reserved_ports`` keeps the kernel from handing
them out; listening on them explicitly still works.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from devcluster.settings import Settings

RESERVED_PORTS = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")
WEED_GRPC_OFFSET = 10000
"""SeaweedFS listens for gRPC at each HTTP port plus this."""


def fixed_ports(settings: Settings) -> list[int]:
    """Every port the cluster's processes listen on: each ``*_port`` setting (so a new one is
    reserved too), and SeaweedFS's gRPC ports."""
    listening = [getattr(settings, f.name) for f in dataclasses.fields(settings)
                 if f.name.endswith("_port")]  # fmt: skip
    weed = [
        settings.s3_port,
        settings.weed_master_port,
        settings.weed_volume_port,
        settings.weed_filer_port,
    ]
    return sorted({*listening, *(port + WEED_GRPC_OFFSET for port in weed)})


def merged(current: str, ports: list[int]) -> str:
    """The sysctl's new value: what it held (ranges like "100-200" stay) plus ``ports``."""
    held = [item for item in current.strip().split(",") if item]
    return ",".join([*held, *(str(port) for port in ports)])


def reserve(settings: Settings) -> None:
    """Best effort: without root (or in a container without the sysctl) only a warning."""
    try:
        RESERVED_PORTS.write_text(merged(RESERVED_PORTS.read_text(), fixed_ports(settings)))
    except OSError as err:
        print(f"[cluster] could not reserve the fixed ports ({err}); a port may be taken by an "
              "outgoing connection", file=sys.stderr)  # fmt: skip
