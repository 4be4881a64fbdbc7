"""One pod's containers as local process groups: start, watch, restart, terminate.

Every container runs as ``unshare --mount --uts --propagation private -- python -I enter.py``,
which bind-mounts the pod's volumes, /etc/hosts and the termination-message file, sets the pod's
hostname and execs the command. The runner never blocks: the agent's loop calls ``poll``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from devcluster.nodeagent import podenv, volumes
from devcluster.nodeagent.config import AgentConfig
from devcluster.nodeagent.status import ContainerRecord, now, pod_status

ENTER = Path(__file__).with_name("enter.py")
MESSAGE_LIMIT = 4096
LOG_ANNOTATION = "nodeagent.finetune.dev/log"
LOG_DIR_ANNOTATION = "nodeagent.finetune.dev/log-dir"


def pod_dir_name(pod: Mapping[str, Any]) -> str:
    meta = pod["metadata"]
    return f"{meta['namespace']}_{meta['name']}_{meta['uid'][:8]}"


def hostname(pod: Mapping[str, Any]) -> str:
    return str(pod["spec"].get("hostname") or pod["metadata"]["name"])


class PodRunner:
    """Runs the containers of one pod and reports their state."""

    def __init__(
        self, pod: Mapping[str, Any], ip: str, config: AgentConfig, reads: volumes.VolumeReads
    ) -> None:
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        self.ip = ip
        self.config = config
        self.reads = reads
        self.dir = config.settings.pods / pod_dir_name(pod)
        self.hosts_file = self.dir / "hosts"
        self.start_time = now()
        self.restart_policy: str = pod["spec"].get("restartPolicy", "Always")
        self.records = [
            ContainerRecord(c["name"], c.get("image", "")) for c in pod["spec"]["containers"]
        ]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.next_start: dict[str, float] = {}
        self.failed_message = ""
        self.terminating_since: float | None = None
        self.kill_at: float | None = None
        self._volume_paths: dict[str, Path] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def log_path(self, container: str) -> Path:
        return self.dir / f"{container}.log"

    def annotations(self) -> dict[str, str]:
        first = self.records[0].name
        return {LOG_ANNOTATION: str(self.log_path(first)), LOG_DIR_ANNOTATION: str(self.dir)}

    def poll(self) -> None:
        """Start what is due, collect exits, enforce the kill deadline."""
        for record, spec in zip(self.records, self.pod["spec"]["containers"], strict=True):
            proc = self.procs.get(record.name)
            if proc is not None and proc.poll() is not None:
                self._exited(record, spec, proc.returncode)
                del self.procs[record.name]
            if proc is None and self._due(record):
                self._start(record, spec)
        if self.kill_at is not None and time.monotonic() >= self.kill_at:
            self._signal(signal.SIGKILL)
            self.kill_at = None

    def terminate(self, grace_seconds: float) -> None:
        """SIGTERM every container's process group now, SIGKILL after ``grace_seconds``."""
        if self.terminating_since is not None:
            return
        self.terminating_since = time.monotonic()
        self._signal(signal.SIGTERM)
        self.kill_at = self.terminating_since + grace_seconds
        for record in self.records:
            if record.started_at is None and record.exit_code is None:
                record.waiting_reason = "PodTerminating"

    @property
    def done(self) -> bool:
        """No process left and none will be started."""
        if self.procs:
            return False
        if self.terminating_since is not None or self.failed_message:
            return True
        return self.status()["phase"] in ("Succeeded", "Failed")

    def status(self) -> dict[str, Any]:
        return pod_status(
            self.records,
            self.restart_policy,
            pod_ip=self.ip,
            host_ip="127.0.0.1",
            start_time=self.start_time,
            failed_message=self.failed_message,
        )

    # -- internals -------------------------------------------------------------------------

    def _due(self, record: ContainerRecord) -> bool:
        if self.terminating_since is not None or self.failed_message:
            return False
        if record.exit_code is not None:
            restart = self.restart_policy == "Always" or (
                self.restart_policy == "OnFailure" and record.exit_code != 0
            )
            if not restart:
                return False
        return time.monotonic() >= self.next_start.get(record.name, 0.0)

    def _base_env(self) -> dict[str, str]:
        s = self.config.settings
        env = {k: os.environ[k] for k in self.config.pass_env if k in os.environ}
        env.update(
            PATH=f"{s.venv_bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            HOME=os.environ.get("HOME", "/root"),
            HOSTNAME=hostname(self.pod),
            PYTHONUNBUFFERED="1",
            TORCH_EXTENSIONS_DIR=str(self.config.torch_extensions_dir),
            KUBERNETES_SERVICE_HOST="127.0.0.1",
            KUBERNETES_SERVICE_PORT=str(s.api_port),
        )
        return env

    def _start(self, record: ContainerRecord, spec: Mapping[str, Any]) -> None:
        try:
            if self._volume_paths is None:
                self._volume_paths = volumes.materialise(self.pod, self.dir, self.reads, self.ip)
            env = podenv.container_env(
                self.pod,
                spec,
                self.reads,
                base=self._base_env(),
                pod_ip=self.ip,
                host_ip="127.0.0.1",
            )
            argv = podenv.command_line(spec, env, self.config.current_image_map())
            mounts = volumes.container_mounts(self.pod, spec, self._volume_paths)
        except podenv.ConfigError as exc:
            record.waiting_reason, record.waiting_message = "CreateContainerConfigError", str(exc)
            if "no entry point" in str(exc) or "unsupported" in str(exc):
                self.failed_message = str(exc)  # will never work: fail the pod
            else:
                self.next_start[record.name] = time.monotonic() + 2.0  # Secret may appear later
            return
        message_file = self.dir / "termination" / record.name
        message_file.parent.mkdir(parents=True, exist_ok=True)
        message_file.write_text("")
        message_target = spec.get("terminationMessagePath") or "/dev/termination-log"
        work = self.dir / "work" / record.name
        work.mkdir(parents=True, exist_ok=True)
        enter_spec = {
            "mounts": [asdict(m) for m in mounts]
            + [
                asdict(volumes.Mount(str(self.hosts_file), "/etc/hosts", False)),
                asdict(volumes.Mount(str(message_file), message_target, False)),
            ],
            "hostname": hostname(self.pod),
            "working_dir": spec.get("workingDir") or str(work),
            # What the host provides in place of an image: the checkout (venv, code), the
            # agent's state, the shared caches and the Python installation.
            "keep_visible": [
                str(self.config.settings.root),
                str(self.config.settings.state),
                str(self.config.settings.cache),
                sys.base_prefix,
            ],
            "argv": argv,
        }
        spec_file = self.dir / "containers" / f"{record.name}.json"
        spec_file.parent.mkdir(parents=True, exist_ok=True)
        spec_file.write_text(json.dumps(enter_spec, indent=2))
        with open(self.log_path(record.name), "ab") as log:
            log.write(f"--- {now()} start {argv}\n".encode())
            log.flush()
            self.procs[record.name] = subprocess.Popen(
                ["unshare", "--mount", "--uts", "--propagation", "private", "--",
                 sys.executable, "-I", str(ENTER), str(spec_file)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True,
            )  # fmt: skip
        if record.exit_code is not None:
            record.last_terminated = record.terminated_state()
            record.restart_count += 1
        record.started_at, record.finished_at, record.exit_code = now(), None, None
        record.message, record.reason = "", ""

    def _exited(self, record: ContainerRecord, spec: Mapping[str, Any], code: int) -> None:
        record.finished_at = now()
        record.exit_code = code if code >= 0 else 128 - code  # killed by signal N → 128+N
        record.reason = "Completed" if code == 0 else "Error"
        message = (self.dir / "termination" / record.name).read_bytes()[:MESSAGE_LIMIT]
        if (
            not message
            and code != 0
            and spec.get("terminationMessagePolicy") == ("FallbackToLogsOnError")
        ):
            message = self.log_path(record.name).read_bytes()[-2048:]
        record.message = message.decode(errors="replace")
        backoff = min(2.0 * 2 ** min(record.restart_count, 5), 60.0)  # kubelet: 10 s .. 5 min
        self.next_start[record.name] = time.monotonic() + backoff
        if code != 0:
            record.waiting_reason = "CrashLoopBackOff"

    def _signal(self, sig: signal.Signals) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
