"""A container's environment and command line, resolved the way the kubelet does it.

Pure functions over the pod manifest (a dict) and a ``Reads`` object that fetches Secrets and
ConfigMaps, so they are testable without a cluster.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, Protocol


class ConfigError(Exception):
    """The container cannot start yet (CreateContainerConfigError in kubelet terms)."""


class Reads(Protocol):
    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """Decoded data of a Secret, or None if it does not exist."""

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        """Data (and decoded binaryData) of a ConfigMap, or None if it does not exist."""


def decode_secret(data: Mapping[str, str] | None) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (data or {}).items()}


_FIELD = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_value(pod: Mapping[str, Any], path: str, pod_ip: str, host_ip: str) -> str:
    """The downward-API value for ``fieldRef.fieldPath``."""
    meta, spec = pod["metadata"], pod["spec"]
    simple = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path])
    match = _FIELD.match(path)
    if match:
        return str((meta.get(match[1]) or {}).get(match[2], ""))
    raise ConfigError(f"unsupported fieldRef {path!r}")


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: unknown references stay as written, ``$$`` is ``$``."""

    def sub(m: re.Match[str]) -> str:
        if m[0] == "$$":
            return "$"
        return env.get(m[1], m[0])

    return _VAR.sub(sub, text)


def _keyed(reads: Reads, ns: str, ref: Mapping[str, Any], kind: str) -> str | None:
    data = reads.secret(ns, ref["name"]) if kind == "secret" else reads.config_map(ns, ref["name"])
    optional = bool(ref.get("optional"))
    if data is None or ref["key"] not in data:
        if optional:
            return None
        raise ConfigError(f"{kind} {ref['name']!r} key {ref['key']!r} not found")
    return data[ref["key"]]


def container_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    reads: Reads,
    *,
    base: Mapping[str, str],
    pod_ip: str,
    host_ip: str,
) -> dict[str, str]:
    """``base`` (the node's defaults), then ``envFrom`` in order, then ``env`` in order."""
    ns = pod["metadata"]["namespace"]
    env = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "secretRef" in source:
            ref, data = source["secretRef"], reads.secret(ns, source["secretRef"]["name"])
        else:
            ref, data = source["configMapRef"], reads.config_map(ns, source["configMapRef"]["name"])
        if data is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f"envFrom source {ref['name']!r} not found")
        env.update({prefix + k: v for k, v in data.items()})
    for var in container.get("env") or []:
        if "value" in var or "valueFrom" not in var:
            env[var["name"]] = expand(var.get("value", ""), env)
            continue
        source = var["valueFrom"]
        value: str | None
        if "secretKeyRef" in source:
            value = _keyed(reads, ns, source["secretKeyRef"], "secret")
        elif "configMapKeyRef" in source:
            value = _keyed(reads, ns, source["configMapKeyRef"], "configMap")
        elif "fieldRef" in source:
            value = field_value(pod, source["fieldRef"]["fieldPath"], pod_ip, host_ip)
        else:
            raise ConfigError(f"unsupported valueFrom for {var['name']!r}: {sorted(source)}")
        if value is not None:
            env[var["name"]] = value
    return env


def image_repository(image: str) -> str:
    """``registry/repo:tag@digest`` → ``registry/repo`` (a registry port is not a tag)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last) + last.index(":")]
    return name


def command_line(
    container: Mapping[str, Any], env: Mapping[str, str], image_map: Mapping[str, list[str]]
) -> list[str]:
    """``command`` + ``args``; without ``command`` the image map supplies the entry point."""
    command = container.get("command")
    if not command:
        repo = image_repository(container.get("image", ""))
        matches = [cmd for suffix, cmd in image_map.items() if repo.endswith(suffix)]
        if not matches:
            raise ConfigError(f"no entry point known for image {container.get('image')!r}")
        command = matches[0]
    return [expand(part, env) for part in [*command, *(container.get("args") or [])]]
