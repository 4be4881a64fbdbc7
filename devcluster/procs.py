"""Start long-running components in the background and stop exactly those, by pid.

Each component gets a pid file under ``.testenv/pids/``. The file also holds the executable path,
so a recycled pid that now belongs to another program is never mistaken for ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from devcluster.settings import Settings


def _pid_file(settings: Settings, name: str) -> Path:
    return settings.pids / f"{name}.pid"


def _alive(pid: int, exe: str) -> bool:
    # Reap it first if it is our own exited child, or it lingers as a zombie that looks alive.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z" and cmdline.split(b"\0", 1)[0].decode() == exe


def running(settings: Settings, name: str) -> int | None:
    """The pid of component ``name`` if the process we started is still alive."""
    try:
        pid_text, exe = _pid_file(settings, name).read_text().split("\n", 1)
    except (FileNotFoundError, ValueError):
        return None
    pid = int(pid_text)
    return pid if _alive(pid, exe.strip()) else None


def start(
    settings: Settings,
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` in its own session, output to ``.testenv/logs/<name>.log``."""
    settings.pids.mkdir(parents=True, exist_ok=True)
    settings.logs.mkdir(parents=True, exist_ok=True)
    with open(settings.logs / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd or settings.root,
            start_new_session=True,
        )
    _pid_file(settings, name).write_text(f"{proc.pid}\n{argv[0]}\n")
    return proc.pid


def stop(settings: Settings, name: str, grace: float = 15.0) -> bool:
    """SIGTERM the component's process group, SIGKILL it after ``grace`` seconds."""
    pid = running(settings, name)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while running(settings, name) and time.monotonic() < deadline:
            time.sleep(0.2)
        if running(settings, name):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            while running(settings, name):
                time.sleep(0.1)
    _pid_file(settings, name).unlink(missing_ok=True)
    return pid is not None


def wait_until(
    what: str, check: Callable[[], object], timeout: float, interval: float = 0.5
) -> None:
    """Poll ``check()`` until it returns true; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # readiness probes fail in many ways until the thing is up
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}: {last!r}")


def built_bin_dir(settings: Settings, script: str) -> Path:
    """Run ``devcluster/gobuild/<script>`` (it builds once, then finds its cache) and return
    the binaries' directory, which the script prints last."""
    argv = [str(settings.root / "devcluster" / "gobuild" / script)]
    out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])
