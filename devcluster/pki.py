"""Certificates and keys for the local apiserver, made once with the openssl CLI.

The extensions (keyUsage, SKI/AKI) matter: Python 3.13+ verifies X.509 strictly and refuses
certificates without them. ``O=system:masters`` makes the admin client certificate cluster-admin
under RBAC, which is how the tests, the controller-manager and the scheduler authenticate.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from devcluster.settings import Settings

_CA_EXT = """basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always,issuer
"""
_LEAF_EXT = """basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage={usage}
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
"""
_SERVER_SANS = (
    "subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
    "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,"
    "IP:127.0.0.1,IP:10.0.0.1,IP:{node_ip}\n"
)
# Node components' client identities: the Node authorizer and the default RBAC roles know these.
NODE_CLIENTS = {
    "kubelet": "/O=system:nodes/CN=system:node:{node}",
    "kube-proxy": "/CN=system:kube-proxy",
    "coredns": "/CN=devcluster:coredns",
}


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _leaf(d: Path, name: str, subject: str, ext: str) -> None:
    (d / f"{name}.ext").write_text(ext)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", subject, cwd=d)  # fmt: skip
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "3650", "-extfile", f"{name}.ext",
             "-out", f"{name}.crt", cwd=d)  # fmt: skip


def ensure(settings: Settings) -> Path:
    """Create the PKI under ``.testenv/pki`` unless it is complete; returns that directory."""
    d = settings.pki
    if (d / "sa.pub").exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    (d / "ca.cnf").write_text("[req]\ndistinguished_name=dn\n[dn]\n[v3]\n" + _CA_EXT)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.crt", "-days", "3650", "-subj", "/CN=finetune-testenv-ca",
             "-extensions", "v3", "-config", "ca.cnf", cwd=d)  # fmt: skip
    server = _LEAF_EXT.format(usage="serverAuth")
    _leaf(
        d, "apiserver", "/CN=kube-apiserver", server + _SERVER_SANS.format(node_ip=settings.node_ip)
    )
    _leaf(d, "admin", "/O=system:masters/CN=admin", _LEAF_EXT.format(usage="clientAuth"))
    for name, subject in NODE_CLIENTS.items():
        _leaf(
            d, name, subject.format(node=settings.node_name), _LEAF_EXT.format(usage="clientAuth")
        )
    sans = f"subjectAltName=DNS:{settings.node_name},IP:{settings.node_ip},IP:127.0.0.1\n"
    _leaf(d, "kubelet-serving", f"/CN={settings.node_name}", server + sans)
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)  # written last
    return d


def write_kubeconfig(settings: Settings) -> Path:
    """An admin kubeconfig with absolute paths, so it works from any directory."""
    return _kubeconfig(settings, settings.kubeconfig, "admin")


def write_node_kubeconfigs(settings: Settings) -> None:
    """``<client>.kubeconfig`` in the PKI directory for each node component."""
    for name in NODE_CLIENTS:
        _kubeconfig(settings, settings.pki / f"{name}.kubeconfig", name)


def _kubeconfig(settings: Settings, path: Path, user: str) -> Path:
    d = settings.pki
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: finetune-testenv
  cluster:
    server: {settings.api_url}
    certificate-authority: {d / "ca.crt"}
users:
- name: {user}
  user:
    client-certificate: {d / f"{user}.crt"}
    client-key: {d / f"{user}.key"}
contexts:
- name: finetune-testenv
  context: {{cluster: finetune-testenv, user: {user}, namespace: default}}
current-context: finetune-testenv
"""
    )
    return path
