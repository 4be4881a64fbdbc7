"""Node objects and their heartbeats: a Lease in kube-node-lease plus the Ready condition.

The node-lifecycle controller marks a node NotReady (and evicts its pods) when neither is
renewed within its grace period (40-50 s), so the agent renews both every 10 s.
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from typing import Any

from devcluster.kubeapi import MERGE, KubeApi, KubeError
from devcluster.nodeagent.config import AgentConfig
from devcluster.nodeagent.status import now

LEASE_SECONDS = 40
KUBELET_VERSION = "v1.36.3"


def node_manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.finetune.dev/agent": "nodeagent",
                "nvidia.com/gpu.present": "true",
            },
        },
    }


def node_status(config: AgentConfig, since: str) -> dict[str, Any]:
    beat = now()

    def cond(kind: str, ok: bool, reason: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": "True" if ok else "False",
            "reason": reason,
            "lastHeartbeatTime": beat,
            "lastTransitionTime": since,
        }

    return {
        "capacity": config.capacity,
        "allocatable": config.capacity,
        "conditions": [
            cond("Ready", True, "KubeletReady"),
            cond("MemoryPressure", False, "KubeletHasSufficientMemory"),
            cond("DiskPressure", False, "KubeletHasNoDiskPressure"),
            cond("PIDPressure", False, "KubeletHasSufficientPID"),
        ],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "machineID": "nodeagent",
            "systemUUID": "nodeagent",
            "bootID": "nodeagent",
            "kernelVersion": platform.release(),
            "osImage": "finetune-operator node agent",
            "containerRuntimeVersion": "nodeagent://0.1.0",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Nodes:
    """Registers the agent's nodes and keeps them Ready."""

    def __init__(self, api: KubeApi, config: AgentConfig) -> None:
        self.api = api
        self.config = config
        self.since = now()

    def register(self) -> None:
        for name in self.config.node_names:
            try:
                self.api.create("/api/v1/nodes", node_manifest(name))
            except KubeError as exc:
                if exc.status != 409:
                    raise
        self.heartbeat()

    def heartbeat(self) -> None:
        status = node_status(self.config, self.since)
        for name in self.config.node_names:
            self.api.patch(f"/api/v1/nodes/{name}/status", {"status": status})
            self._renew_lease(name)

    def _renew_lease(self, name: str) -> None:
        leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": name,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": _micro_now(),
            },
        }
        try:
            self.api.patch(f"{leases}/{name}", body, content_type=MERGE)
        except KubeError as exc:
            if exc.status != 404:
                raise
            self.api.create(leases, body)
