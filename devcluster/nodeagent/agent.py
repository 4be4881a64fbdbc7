"""The node agent's control loop: list the pods bound to our nodes, reconcile each one.

Polling the pod list every half second (instead of a watch) keeps the loop simple and
self-healing; with a few dozen pods the apiserver answers from its watch cache in milliseconds.
"""

from __future__ import annotations

import base64
import logging
import shutil
import threading
import time
from collections.abc import Mapping
from typing import Any

from devcluster.kubeapi import KubeApi, KubeError
from devcluster.nodeagent import hosts
from devcluster.nodeagent.config import AgentConfig
from devcluster.nodeagent.node import Nodes
from devcluster.nodeagent.podenv import decode_secret
from devcluster.nodeagent.runner import PodRunner, hostname

log = logging.getLogger("nodeagent")
HEARTBEAT_SECONDS = 10.0
SHUTDOWN_GRACE = 5.0


def _pod_path(meta: Mapping[str, Any]) -> str:
    return f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"


class ClusterReads:
    """Secrets, ConfigMaps and ServiceAccount tokens for volumes and env, straight from the API."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api

    def _read(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = self.api.get(f"/api/v1/namespaces/{namespace}/{kind}/{name}")
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        obj = self._read(namespace, "secrets", name)
        return None if obj is None else decode_secret(obj.get("data"))

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        obj = self._read(namespace, "configmaps", name)
        if obj is None:
            return None
        binary = {k: base64.b64decode(v).decode() for k, v in (obj.get("binaryData") or {}).items()}
        return {**(obj.get("data") or {}), **binary}

    def token(self, namespace: str, service_account: str, spec: Mapping[str, Any]) -> str:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [spec["audience"]] if spec.get("audience") else [],
                "expirationSeconds": spec.get("expirationSeconds", 3607),
            },
        }
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token"
        return str(self.api.create(path, body)["status"]["token"])


class Agent:
    """Owns the runners of all pods bound to this agent's nodes."""

    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.api = KubeApi(cfg.settings)
        self.nodes = Nodes(KubeApi(cfg.settings), cfg)  # its own: it runs in another thread
        self.reads = ClusterReads(self.api)
        self.runners: dict[str, PodRunner] = {}
        self.pushed: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()
        self.ips = hosts.IpAllocator.for_port(cfg.settings.api_port)
        self.stopping = threading.Event()

    def run(self) -> None:
        self.nodes.register()
        threading.Thread(target=self._heartbeats, name="heartbeat", daemon=True).start()
        log.info("registered %s", ", ".join(self.cfg.node_names))
        while not self.stopping.is_set():
            try:
                self.tick()
            except Exception:  # the apiserver may restart under us; keep the node alive
                log.exception("reconcile pass failed")
            self.stopping.wait(self.cfg.poll_interval)
        self._shutdown()

    def _heartbeats(self) -> None:
        while not self.stopping.wait(HEARTBEAT_SECONDS):
            try:
                self.nodes.heartbeat()
            except Exception:
                log.exception("heartbeat failed")

    def _list_pods(self) -> dict[str, dict[str, Any]]:
        items = self.api.get("/api/v1/pods")["items"]
        return {
            p["metadata"]["uid"]: p
            for p in items
            if p["spec"].get("nodeName") in self.cfg.node_names
        }

    def tick(self) -> None:
        pods = self._list_pods()
        for pod in pods.values():
            try:
                self._reconcile(pod)
            except Exception:  # one broken pod must not stall the others
                meta = pod["metadata"]
                log.exception("pod %s/%s", meta["namespace"], meta["name"])
        for uid in [u for u in self.runners if u not in pods]:
            runner = self.runners[uid]
            runner.terminate(0)
            runner.poll()
            if runner.done:
                self.ips.release(runner.ip)
                del self.runners[uid]
                self.pushed.pop(uid, None)
                # Secrets and scratch data go with the pod; logs stay for debugging.
                shutil.rmtree(runner.dir / "volumes", ignore_errors=True)
        self._refresh_hosts()

    def _reconcile(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        runner = self.runners.get(uid)
        if meta.get("deletionTimestamp"):
            if runner is not None:
                grace = meta.get("deletionGracePeriodSeconds")
                if grace is None:
                    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
                runner.terminate(float(grace))
                runner.poll()
                self._push(pod, runner)
                if not runner.done:
                    return
            self._delete(pod)
            return
        if runner is None:
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                return
            runner = self._admit(pod)
        runner.poll()
        self._push(pod, runner)

    def _admit(self, pod: dict[str, Any]) -> PodRunner:
        meta = pod["metadata"]
        runner = PodRunner(pod, self.ips.take(), self.cfg, self.reads)
        if pod.get("status", {}).get("podIP"):
            # Started by an earlier agent process whose children are gone: report, never rerun.
            runner.failed_message = "the node agent restarted while this pod was running"
        runner.dir.mkdir(parents=True, exist_ok=True)
        for record in runner.records:  # the log annotation must never name a missing file
            runner.log_path(record.name).touch()
        self.runners[meta["uid"]] = runner
        self._refresh_hosts()
        patch = {"metadata": {"annotations": runner.annotations()}}
        self.api.patch(_pod_path(meta), patch)
        log.info("pod %s/%s → %s", meta["namespace"], meta["name"], runner.ip)
        return runner

    def _push(self, pod: Mapping[str, Any], runner: PodRunner) -> None:
        status = runner.status()
        uid = pod["metadata"]["uid"]
        if self.pushed.get(uid) == status:
            return
        meta = pod["metadata"]
        try:
            # A merge patch replaces lists whole: a strategic merge would append to podIPs.
            self.api.patch(
                _pod_path(meta) + "/status",
                {"status": status},
                content_type="application/merge-patch+json",
            )
        except KubeError as exc:
            if exc.status != 404:
                raise
        self.pushed[uid] = status

    def _delete(self, pod: Mapping[str, Any]) -> None:
        """Finish a graceful delete, as the kubelet does once the containers are gone."""
        meta = pod["metadata"]
        if meta["uid"] in self.deleted:
            return
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
        try:
            self.api.delete(_pod_path(meta), body)
        except KubeError as exc:
            if exc.status not in (404, 409):
                raise
        self.deleted.add(meta["uid"])

    def _refresh_hosts(self) -> None:
        addresses = [
            hosts.PodAddress(
                r.pod["metadata"]["namespace"],
                hostname(r.pod),
                r.pod["spec"].get("subdomain", ""),
                r.ip,
            )
            for r in self.runners.values()
        ]
        for runner in self.runners.values():
            content = hosts.render(runner.pod["metadata"]["namespace"], addresses)
            current = runner.hosts_file.read_text() if runner.hosts_file.exists() else None
            if content != current:
                runner.hosts_file.write_text(content)  # in place: bind mounts see the inode

    def _shutdown(self) -> None:
        """Stop every pod process we started: none may outlive the agent."""
        for runner in self.runners.values():
            runner.terminate(SHUTDOWN_GRACE)
        deadline = time.monotonic() + SHUTDOWN_GRACE + 2
        while any(r.procs for r in self.runners.values()) and time.monotonic() < deadline:
            for runner in self.runners.values():
                runner.poll()
            time.sleep(0.1)
