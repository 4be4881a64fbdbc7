"""The node's images, made here: no container registry is reachable from these machines.

- **Base**: a Debian bookworm root filesystem made by debootstrap from Debian's packages, with
  Python 3.11 and venv, packed as an OCI image layout. The Dockerfiles take their base as a build
  ARG; builds here name this layout through a BuildKit named context.
- **Sandbox**: the pod sandbox ("pause") image, from the pause binary built with the node.
- **The project's images**: ``operator/Dockerfile``, ``trainer-image/Dockerfile`` and the
  stand-in trainer's, built by BuildKit straight into containerd's ``k8s.io`` namespace, where
  the kubelet finds them. BuildKit's cache lives under ``~/.cache/finetune-operator``, so an
  unchanged layer (torch) is never built or downloaded twice.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devcluster import nodeconfig
from devcluster.settings import Settings

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# python3.11-venv gives `python3 -m venv`; the Dockerfiles add what else they need with apt.
BASE_PACKAGES = ("ca-certificates", "python3.11", "python3.11-venv", "python3-pip")
BASE_NAME = "devcluster-bookworm-python"
"""The name Dockerfiles' ``FROM ${BASE_IMAGE}`` resolves to, through a named build context."""
BASE_IMAGE_REFERENCE = "localhost/devcluster/python:3.11-bookworm"
"""The base in containerd too: an image with no USER, for the kubelet's runAsNonRoot check."""
OPERATOR_IMAGE_REFERENCE = "ghcr.io/finetune-operator/finetune-operator:0.1.0"
TRAINER_IMAGE_REFERENCE = "ghcr.io/finetune-operator/finetune-trainer:0.1.0"
STANDIN_IMAGE_REFERENCE = "localhost/standin-trainer:test"
_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class ImageBuild:
    """One of the project's images: its Dockerfile and the reference the cluster runs."""

    name: str
    dockerfile: str
    reference: str


PROJECT_IMAGES = (
    ImageBuild("operator", "operator/Dockerfile", OPERATOR_IMAGE_REFERENCE),
    ImageBuild("trainer", "trainer-image/Dockerfile", TRAINER_IMAGE_REFERENCE),
    ImageBuild("standin-trainer", "tests/e2e/standin/Dockerfile", STANDIN_IMAGE_REFERENCE),
)


def _log(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def _base_key() -> str:
    return hashlib.sha256(" ".join((SUITE, MIRROR, *BASE_PACKAGES)).encode()).hexdigest()[:12]


def base_rootfs(settings: Settings) -> Path:
    """The debootstrapped root filesystem, made once per package set (about 2-4 minutes)."""
    rootfs = settings.cache / "images" / f"rootfs-{SUITE}-{_base_key()}"
    if (rootfs / ".complete").exists():
        return rootfs
    partial = rootfs.with_name(rootfs.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    _log(f"debootstrap {SUITE} into {partial}")
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
         SUITE, str(partial), MIRROR],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    # debootstrap unmounts what it mounted, unless it was interrupted.
    for mount in ("dev/pts", "dev", "sys", "proc"):
        subprocess.run(["umount", "-l", str(partial / mount)], check=False, capture_output=True)
    # An image carries no device nodes, package caches or machine identity: the runtime
    # supplies /dev, and apt's lists would only be stale.
    for leftover in ("dev", "var/cache/apt/archives", "var/lib/apt/lists", "run"):
        shutil.rmtree(partial / leftover, ignore_errors=True)
        (partial / leftover).mkdir(parents=True, exist_ok=True)
    (partial / "etc" / "machine-id").write_text("")
    (partial / ".complete").touch()
    partial.rename(rootfs)
    return rootfs


def _blob(layout: Path, data: bytes, media_type: str) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def write_oci_layout(
    layout: Path, layer_tar: bytes, image_config: dict[str, Any], reference: str
) -> str:
    """One single-layer linux/amd64 image as an OCI layout; returns the manifest digest."""
    shutil.rmtree(layout, ignore_errors=True)
    layout.mkdir(parents=True)
    diff_id = "sha256:" + hashlib.sha256(layer_tar).hexdigest()
    layer = _blob(layout, gzip.compress(layer_tar, compresslevel=1, mtime=0), _OCI_LAYER)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "devcluster/images.py"}],
    }
    config_desc = _blob(layout, json.dumps(config).encode(), _OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": _OCI_MANIFEST, "config": config_desc,
                "layers": [layer]}  # fmt: skip
    manifest_desc = _blob(layout, json.dumps(manifest).encode(), _OCI_MANIFEST)
    tag = reference.rsplit(":", 1)[-1]
    manifest_desc["annotations"] = {
        "io.containerd.image.name": reference,
        "org.opencontainers.image.ref.name": tag,
    }
    index = {"schemaVersion": 2, "manifests": [manifest_desc]}
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return str(manifest_desc["digest"])


def _tar_dir(root: Path) -> bytes:
    """A reproducible-enough tar of ``root`` (numeric owners kept, as in the filesystem)."""
    out = subprocess.run(
        ["tar", "--numeric-owner", "--sort=name", "--one-file-system", "--exclude=./.complete",
         "-C", str(root),
         "-cf", "-", "."],
        check=True, stdout=subprocess.PIPE,
    )  # fmt: skip
    return out.stdout


def base_layout(settings: Settings) -> tuple[Path, str]:
    """The base image as an OCI layout (made once per root filesystem): path and digest.

    The host's CA bundle goes in, and ``PIP_CERT`` names it: package downloads during builds
    pass through this machine's egress proxy, whose CA Debian's bundle lacks.
    """
    rootfs = base_rootfs(settings)
    layout = settings.cache / "images" / f"layout-{rootfs.name.removeprefix('rootfs-')}"
    digest_file = layout.with_name(layout.name + ".digest")
    if digest_file.exists():
        return layout, digest_file.read_text().strip()
    host_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if host_bundle.exists():
        shutil.copyfile(host_bundle, rootfs / "etc" / "ssl" / "certs" / "ca-certificates.crt")
    _log(f"packing {rootfs.name} as an OCI layout")
    config = {
        "Env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
        ],
        "Cmd": ["bash"],
    }
    digest = write_oci_layout(layout, _tar_dir(rootfs), config, BASE_IMAGE_REFERENCE)
    digest_file.write_text(digest)
    return layout, digest


def _sandbox_layer(pause: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tar.gettarinfo(str(pause), arcname="pause")
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        with open(pause, "rb") as handle:
            tar.addfile(info, handle)
    return buffer.getvalue()


def ctr(settings: Settings, bins: Path, *args: str) -> str:
    """``ctr`` against the node's containerd, in the kubelet's namespace."""
    out = subprocess.run(
        [str(bins / "ctr"), f"--address={settings.containerd_socket}", "--namespace=k8s.io", *args],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout


def _import_layout(settings: Settings, bins: Path, layout: Path) -> None:
    archive = layout.with_name(layout.name + ".tar")
    with tarfile.open(archive, "w") as tar:
        for item in sorted(layout.iterdir()):
            tar.add(item, arcname=item.name)
    ctr(settings, bins, "images", "import", str(archive))
    archive.unlink()


def import_local_images(settings: Settings, bins: Path) -> None:
    """Put the pause image (containerd pins it) and the base into containerd, once."""
    present = ctr(settings, bins, "images", "list", "--quiet").split()
    if nodeconfig.SANDBOX_IMAGE not in present:
        layout = settings.state / "images" / "sandbox"
        write_oci_layout(layout, _sandbox_layer(bins / "pause"),
                         {"Entrypoint": ["/pause"], "User": "65535:65535"},
                         nodeconfig.SANDBOX_IMAGE)  # fmt: skip
        _import_layout(settings, bins, layout)
    if BASE_IMAGE_REFERENCE not in present:
        _import_layout(settings, bins, base_layout(settings)[0])


def buildctl_argv(
    settings: Settings, bins: Path, image: ImageBuild, base: tuple[Path, str]
) -> list[str]:
    """``buildctl build`` of one Dockerfile, based on the local base, into containerd."""
    layout, digest = base
    dockerfile = settings.root / image.dockerfile
    return [
        str(bins / "buildctl"),
        f"--addr=unix://{settings.buildkit_socket}",
        "build",
        "--frontend=dockerfile.v0",
        f"--local=context={settings.root}",
        f"--local=dockerfile={dockerfile.parent}",
        f"--opt=filename={dockerfile.name}",
        f"--opt=build-arg:BASE_IMAGE={BASE_NAME}",
        f"--oci-layout=base={layout}",
        f"--opt=context:{BASE_NAME}=oci-layout://base@{digest}",
        # Layers are already unpacked snapshots in containerd; compressing them only costs time.
        f"--output=type=image,name={image.reference},unpack=true,compression=uncompressed",
        "--progress=plain",
    ]


def build_all(settings: Settings, bins: Path) -> None:
    """Build (or find in BuildKit's cache) every project image; logs in ``.testenv/logs``."""
    base = base_layout(settings)
    for image in PROJECT_IMAGES:
        t0 = time.monotonic()
        log_path = settings.logs / f"build-{image.name}.log"
        with open(log_path, "wb") as log:
            argv = buildctl_argv(settings, bins, image, base)
            done = subprocess.run(argv, check=False, stdout=log, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"building {image.reference} failed (log {log_path}):\n{tail}")
        _log(f"{image.reference} ready in {time.monotonic() - t0:.0f}s")
    prune_superseded(settings, bins)


def superseded_refs(listing: str) -> list[str]:
    """The ``sha256:<image id>`` refs of ``ctr images list`` whose image no name points at.

    The kubelet's image service names every image by its ID as well as by its tag. A rebuild
    moves the tag and leaves the old ID ref behind, holding gigabytes (the trainer's layers).
    """
    rows = [line.split() for line in listing.splitlines()[1:] if line.strip()]
    named = {row[2] for row in rows if not row[0].startswith("sha256:")}
    return [row[0] for row in rows if row[0].startswith("sha256:") and row[2] not in named]


def prune_superseded(settings: Settings, bins: Path) -> None:
    """Delete earlier builds' images; containerd's GC then frees their layers and snapshots."""
    stale = superseded_refs(ctr(settings, bins, "images", "list"))
    if stale:
        ctr(settings, bins, "images", "remove", "--sync", *stale)
        _log(f"removed {len(stale)} superseded image(s)")
