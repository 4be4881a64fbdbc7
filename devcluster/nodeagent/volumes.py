"""Materialise a pod's volumes as directories, and list the bind mounts each container needs.

configMap, secret, downwardAPI and projected volumes are written once when the pod starts (no
live updates, as with subPath mounts in a real kubelet); emptyDir is a plain directory; hostPath
is bound as is. Persistent volumes are not supported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from devcluster.nodeagent.podenv import ConfigError, Reads, field_value

ALWAYS_READ_ONLY = ("configMap", "secret", "downwardAPI", "projected")


class VolumeReads(Reads, Protocol):
    def token(self, namespace: str, service_account: str, spec: Mapping[str, Any]) -> str:
        """A bound ServiceAccount token from the TokenRequest API."""


@dataclass(frozen=True)
class Mount:
    """One bind mount inside a container's mount namespace."""

    source: str
    target: str
    read_only: bool


def _write(root: Path, rel: str, content: str | bytes, mode: int | None) -> None:
    if rel.startswith("/") or ".." in Path(rel).parts:
        raise ConfigError(f"volume item path {rel!r} escapes the volume")
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    if mode is not None:
        path.chmod(mode)


def _keyed(root: Path, data: Mapping[str, str], source: Mapping[str, Any], what: str) -> None:
    default_mode = source.get("defaultMode")
    items = source.get("items")
    if items is None:
        for key, value in data.items():
            _write(root, key, value, default_mode)
        return
    for item in items:
        if item["key"] not in data:
            if source.get("optional"):
                continue
            raise ConfigError(f"{what} has no key {item['key']!r}")
        _write(root, item["path"], data[item["key"]], item.get("mode", default_mode))


def _downward(root: Path, pod: Mapping[str, Any], items: list[Any], pod_ip: str) -> None:
    for item in items:
        if "fieldRef" not in item:
            raise ConfigError("downwardAPI resourceFieldRef is not supported")
        value = field_value(pod, item["fieldRef"]["fieldPath"], pod_ip, "127.0.0.1")
        _write(root, item["path"], value, item.get("mode"))


def _lookup(reads: VolumeReads, kind: str, ns: str, src: Mapping[str, Any]) -> dict[str, str]:
    name = src.get("name") or src.get("secretName", "")
    data = reads.secret(ns, name) if kind == "secret" else reads.config_map(ns, name)
    if data is None:
        if src.get("optional"):
            return {}
        raise ConfigError(f"{kind} {name!r} not found")
    return data


def _projected(
    root: Path, pod: Mapping[str, Any], vol: Mapping[str, Any], reads: VolumeReads, pod_ip: str
) -> None:
    ns = pod["metadata"]["namespace"]
    for source in vol.get("sources") or []:
        if "configMap" in source:
            data = _lookup(reads, "configMap", ns, source["configMap"])
            _keyed(root, data, source["configMap"], "configMap")
        elif "secret" in source:
            _keyed(root, _lookup(reads, "secret", ns, source["secret"]), source["secret"], "secret")
        elif "downwardAPI" in source:
            _downward(root, pod, source["downwardAPI"].get("items") or [], pod_ip)
        elif "serviceAccountToken" in source:
            spec = source["serviceAccountToken"]
            sa = pod["spec"].get("serviceAccountName") or "default"
            _write(root, spec["path"], reads.token(ns, sa, spec), vol.get("defaultMode"))
        else:
            raise ConfigError(f"unsupported projected source {sorted(source)}")


def materialise(
    pod: Mapping[str, Any], pod_dir: Path, reads: VolumeReads, pod_ip: str
) -> dict[str, Path]:
    """Create every volume of ``pod`` under ``pod_dir/volumes``; returns name → host path."""
    ns = pod["metadata"]["namespace"]
    paths: dict[str, Path] = {}
    for vol in pod["spec"].get("volumes") or []:
        name = vol["name"]
        if "hostPath" in vol:
            paths[name] = Path(vol["hostPath"]["path"])
            continue
        root = pod_dir / "volumes" / name
        root.mkdir(parents=True, exist_ok=True)
        if "emptyDir" in vol:
            root.chmod(0o777)  # pods "run as" non-root users in their manifests
        elif "configMap" in vol:
            _keyed(root, _lookup(reads, "configMap", ns, vol["configMap"]), vol["configMap"], name)
        elif "secret" in vol:
            _keyed(root, _lookup(reads, "secret", ns, vol["secret"]), vol["secret"], name)
        elif "downwardAPI" in vol:
            _downward(root, pod, vol["downwardAPI"].get("items") or [], pod_ip)
        elif "projected" in vol:
            _projected(root, pod, vol["projected"], reads, pod_ip)
        else:
            kinds = sorted(set(vol) - {"name"})
            raise ConfigError(f"volume {name!r}: unsupported type {kinds}")
        paths[name] = root
    return paths


def container_mounts(
    pod: Mapping[str, Any], container: Mapping[str, Any], volume_paths: Mapping[str, Path]
) -> list[Mount]:
    """The container's ``volumeMounts`` as bind mounts, parents before children."""
    kinds = {v["name"]: next(iter(set(v) - {"name"}), "") for v in pod["spec"].get("volumes") or []}
    mounts = []
    for vm in container.get("volumeMounts") or []:
        source = volume_paths[vm["name"]]
        if vm.get("subPath"):
            source = source / vm["subPath"]
        read_only = bool(vm.get("readOnly")) or kinds.get(vm["name"]) in ALWAYS_READ_ONLY
        mounts.append(Mount(str(source), vm["mountPath"], read_only))
    return sorted(mounts, key=lambda m: m.target.count("/"))
