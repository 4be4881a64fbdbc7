"""Pod addresses: one loopback IP per pod, and the /etc/hosts each pod sees.

All of 127.0.0.0/8 reaches the loopback interface on Linux, so a unique 127.x.y.z per pod lets
pods bind the same port side by side. Each agent uses one /16 picked from its apiserver port,
so two local clusters on one machine do not hand out the same addresses.

The generated hosts file stands in for cluster DNS: it lists every pod of the namespace under
``<hostname>`` and, for pods with a subdomain, ``<hostname>.<subdomain>[.<ns>.svc[.cluster.local]]``
(how an Indexed Job's pods find pod 0).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass


class IpAllocator:
    """Hands out unused addresses of 127.<octet>.0.0/16, round-robin (a freed IP rests)."""

    def __init__(self, octet: int = 16) -> None:
        self._first = int(ipaddress.IPv4Address(f"127.{octet}.0.1"))
        self._last = int(ipaddress.IPv4Address(f"127.{octet}.255.254"))
        self._used: set[int] = set()
        self._next = self._first

    @classmethod
    def for_port(cls, api_port: int) -> IpAllocator:
        return cls(16 + api_port % 199)  # prime: clusters whose ports differ by 10000 differ here

    def take(self) -> str:
        for _ in range(self._last - self._first):
            candidate = self._next
            self._next = self._first if self._next >= self._last else self._next + 1
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
