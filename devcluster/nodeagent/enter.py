"""Runs inside a container's fresh mount + UTS namespace: bind mounts, hostname, then exec.

Started as ``unshare --mount --uts --propagation private -- python -I enter.py SPEC.json`` so
that mounts and the hostname stay private to the pod. Standard library only (``-I`` isolates it
from the pod's PYTHON* variables, which the exec'd command still receives).
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import sys
from pathlib import Path

MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, flags: int) -> None:
    src = source.encode() if source else None
    if _libc.mount(src, target.encode(), None, flags, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} -> {target}: {os.strerror(err)}")


def _bind(source: str, target: str, read_only: bool) -> None:
    src, dst = Path(source), Path(target)
    if src.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            dst.touch()
    _mount(source, target, MS_BIND | MS_REC)
    if read_only:
        _mount(None, target, MS_BIND | MS_REMOUNT | MS_RDONLY)


def _handle(path: str) -> str:
    """A path that keeps naming ``path`` after later mounts hide it (a /proc magic link)."""
    return f"/proc/self/fd/{os.open(path, os.O_PATH)}"


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    # The host's filesystem is the pod's image here, so a volume at e.g. /tmp would hide a
    # checkout under /tmp: its venv, the pod's own volume sources and working directory. Take
    # handles on all of them first, then put the host paths pods need back on top.
    keep = [(Path(p), _handle(p)) for p in spec.get("keep_visible", []) if Path(p).exists()]
    mounts = [(_handle(m["source"]), m["target"], m["read_only"]) for m in spec["mounts"]]
    workdir = spec["working_dir"]
    workdir_handle = _handle(workdir) if Path(workdir).is_dir() else None
    for source, target, read_only in mounts:
        _bind(source, target, read_only)
    for path, handle in keep:
        if not path.exists() or not os.path.samestat(path.stat(), Path(handle).stat()):
            _bind(handle, str(path), read_only=False)
    socket.sethostname(spec["hostname"])
    try:
        os.chdir(workdir)
    except FileNotFoundError:
        if workdir_handle is None:
            raise
        os.chdir(workdir_handle)
    argv = spec["argv"]
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
