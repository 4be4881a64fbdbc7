"""etcd, kube-apiserver, kube-controller-manager and kube-scheduler as local processes.

Flags follow upstream's hack/local-up-cluster.sh and kwokctl, trimmed to what a single-node
cluster needs. Everything binds to 127.0.0.1 except the apiserver: pods reach it through the
``kubernetes`` Service, whose endpoint is the host's own address (``Settings.node_ip``).
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from devcluster import pki, procs
from devcluster.settings import Settings


def bin_dir(settings: Settings) -> Path:
    """Build (first time, 15-30 min) or find the cached binaries; the script is idempotent."""
    return procs.built_bin_dir(settings, "build.sh")


def _get(url: str, ca: Path | None) -> str:
    ctx = ssl.create_default_context(cafile=str(ca)) if ca else ssl._create_unverified_context()
    with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
        body: bytes = resp.read()
    return body.decode()


@dataclass(frozen=True)
class Component:
    """One control-plane process: how to start it and how to tell it is ready."""

    name: str
    argv: Callable[[Settings, Path], list[str]]
    ready: Callable[[Settings], bool]
    timeout: float


def _etcd(s: Settings, bins: Path) -> list[str]:
    peer = f"http://127.0.0.1:{s.etcd_peer_port}"
    client = f"http://127.0.0.1:{s.etcd_port}"
    return [
        str(bins / "etcd"),
        "--name=default",
        f"--data-dir={s.state / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--unsafe-no-fsync=true",  # throw-away data; fsync dominates write latency otherwise
        "--log-level=warn",
    ]


def _apiserver(s: Settings, bins: Path) -> list[str]:
    d = s.pki
    return [
        str(bins / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{s.etcd_port}",
        "--bind-address=0.0.0.0",
        f"--secure-port={s.api_port}",
        f"--advertise-address={s.node_ip}",
        # kubectl logs/exec: the apiserver calls the kubelet as cluster admin, and checks the
        # kubelet's serving certificate against the local CA.
        f"--kubelet-client-certificate={d / 'admin.crt'}",
        f"--kubelet-client-key={d / 'admin.key'}",
        f"--kubelet-certificate-authority={d / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--tls-cert-file={d / 'apiserver.crt'}",
        f"--tls-private-key-file={d / 'apiserver.key'}",
        f"--client-ca-file={d / 'ca.crt'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={d / 'sa.pub'}",
        f"--service-account-signing-key-file={d / 'sa.key'}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",  # PodSecurity, not this flag, is what tests exercise
        f"--cert-dir={s.state / 'apiserver-certs'}",
        "--v=1",
    ]


def _kcm(s: Settings, bins: Path) -> list[str]:
    d, kc = s.pki, str(s.kubeconfig)
    return [
        str(bins / "kube-controller-manager"),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        f"--secure-port={s.kcm_port}",
        f"--cert-dir={s.state / 'kcm-certs'}",
        "--leader-elect=false",
        "--controllers=*",
        f"--service-account-private-key-file={d / 'sa.key'}",
        f"--root-ca-file={d / 'ca.crt'}",
        f"--cluster-signing-cert-file={d / 'ca.crt'}",
        f"--cluster-signing-key-file={d / 'ca.key'}",
    ]


def _scheduler(s: Settings, bins: Path) -> list[str]:
    kc = str(s.kubeconfig)
    return [
        str(bins / "kube-scheduler"),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        f"--secure-port={s.scheduler_port}",
        "--leader-elect=false",
    ]


COMPONENTS = (
    Component(
        "etcd",
        _etcd,
        lambda s: '"health":"true"' in _get(f"http://127.0.0.1:{s.etcd_port}/health", None),
        60,
    ),
    Component(
        "kube-apiserver",
        _apiserver,
        lambda s: _get(f"{s.api_url}/readyz", s.pki / "ca.crt") == "ok",
        180,
    ),
    Component(
        "kube-controller-manager",
        _kcm,
        lambda s: _get(f"https://127.0.0.1:{s.kcm_port}/healthz", None) == "ok",
        120,
    ),
    Component(
        "kube-scheduler",
        _scheduler,
        lambda s: _get(f"https://127.0.0.1:{s.scheduler_port}/healthz", None) == "ok",
        120,
    ),
)


def up(settings: Settings, bins: Path) -> list[str]:
    """Start each component that is not running, in order, each ready before the next."""
    pki.ensure(settings)
    pki.write_kubeconfig(settings)
    started = []
    for c in COMPONENTS:
        if procs.running(settings, c.name):
            continue
        procs.start(settings, c.name, c.argv(settings, bins))
        started.append(c.name)
        procs.wait_until(c.name, partial(c.ready, settings), c.timeout)
    return started
