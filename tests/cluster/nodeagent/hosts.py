"""Pod addresses: one loopback IP per pod, and the /etc/hosts each pod sees.

All of 127.0.0.0/8 reaches the loopback interface on Linux, so a unique 127.x.y.z per pod lets
pods bind the same port side by side. The generated hosts file stands in for cluster DNS: it
lists every pod of the namespace under ``<hostname>`` and, for pods with a subdomain,
``<hostname>.<subdomain>[.<ns>.svc[.cluster.local]]`` (how an Indexed Job's pods find pod 0).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

_FIRST = int(ipaddress.IPv4Address("127.16.0.1"))
_LAST = int(ipaddress.IPv4Address("127.254.255.254"))


class IpAllocator:
    """Hands out unused loopback addresses, round-robin so a freed IP is not reused soon."""

    def __init__(self) -> None:
        self._used: set[int] = set()
        self._next = _FIRST

    def take(self) -> str:
        for _ in range(_LAST - _FIRST):
            candidate = self._next
            self._next = _FIRST if self._next >= _LAST else self._next + 1
            if candidate not in self._used and (candidate & 0xFF) not in (0, 255):
                self._used.add(candidate)
                return str(ipaddress.IPv4Address(candidate))
        raise RuntimeError("no loopback address left")

    def reserve(self, ip: str) -> None:
        self._used.add(int(ipaddress.IPv4Address(ip)))

    def release(self, ip: str) -> None:
        self._used.discard(int(ipaddress.IPv4Address(ip)))


@dataclass(frozen=True)
class PodAddress:
    namespace: str
    hostname: str
    subdomain: str
    ip: str

    def names(self) -> list[str]:
        if not self.subdomain:
            return [self.hostname]
        fqdn = f"{self.hostname}.{self.subdomain}.{self.namespace}.svc"
        return [f"{fqdn}.cluster.local", fqdn, f"{self.hostname}.{self.subdomain}", self.hostname]


def render(namespace: str, pods: Iterable[PodAddress]) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [
        f"{p.ip}\t{' '.join(p.names())}"
        for p in sorted(pods, key=lambda p: p.hostname)
        if p.namespace == namespace
    ]
    return "\n".join(lines) + "\n"
