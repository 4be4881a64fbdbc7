"""The local node's configuration files and image layouts, rendered without starting anything."""

from __future__ import annotations

import gzip
import hashlib
import json
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from devcluster import images, nodeconfig
from devcluster.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(Settings.from_env(), state=tmp_path / ".testenv", node_ip="192.0.2.7")


def test_containerd_runs_runc_with_cgroupfs_and_clamps_oom_score(settings: Settings) -> None:
    config = tomllib.loads(nodeconfig.containerd_config(settings))
    assert config["version"] == 3
    assert config["grpc"]["address"] == str(settings.containerd_socket)
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["restrict_oom_score_adj"] is True  # no CAP_SYS_RESOURCE here
    runc = runtime["containerd"]["runtimes"]["runc"]
    assert runc["options"] == {"BinaryName": nodeconfig.RUNC, "SystemdCgroup": False}
    assert runtime["cni"]["conf_dir"] == str(settings.cni_conf_dir)
    images_plugin = config["plugins"]["io.containerd.cri.v1.images"]
    assert images_plugin["pinned_images"]["sandbox"] == nodeconfig.SANDBOX_IMAGE


def test_kubelet_accepts_cgroup_v1_without_systemd(settings: Settings) -> None:
    config = yaml.safe_load(nodeconfig.kubelet_config(settings))
    assert config["failCgroupV1"] is False
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["containerRuntimeEndpoint"] == f"unix://{settings.containerd_socket}"
    assert config["clusterDNS"] == ["192.0.2.7"]
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["authorization"]["mode"] == "Webhook"


def test_pod_network_and_services(settings: Settings) -> None:
    network = json.loads(nodeconfig.cni_network(settings))
    bridge = network["plugins"][0]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24"}]]
    assert [p["type"] for p in network["plugins"]] == ["bridge", "portmap"]
    proxy = yaml.safe_load(nodeconfig.kube_proxy_config(settings))
    assert proxy["clusterCIDR"] == "10.244.0.0/16"
    assert proxy["hostnameOverride"] == settings.node_name
    corefile = nodeconfig.corefile(settings)
    assert "bind 192.0.2.7" in corefile
    assert "kubernetes cluster.local in-addr.arpa ip6.arpa" in corefile


def test_socket_paths_fit_a_unix_socket_address(settings: Settings) -> None:
    for socket in (settings.containerd_socket, settings.buildkit_socket):
        assert len(str(socket).encode()) < 108


def test_s3_is_reached_at_the_node_address(settings: Settings) -> None:
    assert settings.s3_url == f"http://192.0.2.7:{settings.s3_port}"


def test_oci_layout_describes_its_single_layer(tmp_path: Path) -> None:
    layer = b"not really a tar, but bytes all the same"
    digest = images.write_oci_layout(
        tmp_path / "layout", layer, {"Entrypoint": ["/pause"]}, "localhost/x/pause:1"
    )
    root = tmp_path / "layout"

    def blob(d: str) -> bytes:
        return (root / "blobs" / "sha256" / d.removeprefix("sha256:")).read_bytes()

    index = json.loads((root / "index.json").read_text())
    (entry,) = index["manifests"]
    assert entry["digest"] == digest
    assert entry["annotations"]["io.containerd.image.name"] == "localhost/x/pause:1"
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "1"
    manifest = json.loads(blob(digest))
    assert hashlib.sha256(blob(digest)).hexdigest() == digest.removeprefix("sha256:")
    config = json.loads(blob(manifest["config"]["digest"]))
    assert config["config"] == {"Entrypoint": ["/pause"]}
    (layer_desc,) = manifest["layers"]
    assert gzip.decompress(blob(layer_desc["digest"])) == layer
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]


def test_superseded_refs_are_id_refs_no_tag_points_at() -> None:
    listing = (
        "REF TYPE DIGEST SIZE PLATFORMS LABELS\n"
        "ghcr.io/x/trainer:0.1.0 application/vnd.oci.image.manifest.v1+json sha256:new 6 GiB"
        " linux/amd64 io.cri-containerd.image=managed\n"
        "sha256:aaa application/vnd.oci.image.manifest.v1+json sha256:new 6 GiB linux/amd64 -\n"
        "sha256:bbb application/vnd.oci.image.manifest.v1+json sha256:old 6 GiB linux/amd64 -\n"
    )
    assert images.superseded_refs(listing) == ["sha256:bbb"]
