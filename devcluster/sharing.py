"""Share one local environment between concurrent users (pytest sessions, the demo).

Several sessions may run at once on one machine. Start-up is serialised by a file lock, so a
second session reuses what the first started instead of racing it for the same ports. Whatever
a session started is recorded as "owned", and the last live user stops all owned components, so
nobody stops a component another session still uses. Components from `make cluster-up` are never
owned, so they keep running.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from devcluster.settings import Settings


@contextmanager
def locked(settings: Settings) -> Iterator[Path]:
    """Hold the environment's start/stop lock; yields the directory of registered users."""
    users = settings.state / "users"
    users.mkdir(parents=True, exist_ok=True)
    with open(settings.state / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield users


def _live(user: Path) -> bool:
    pid = int(user.name.split("-", 1)[0])
    return Path(f"/proc/{pid}").exists()


@contextmanager
def shared(
    settings: Settings,
    name: str,
    start: Callable[[], list[str]],
    stop: Callable[[list[str]], object],
) -> Iterator[None]:
    """Run ``start`` under the lock, register as a user; on exit, the last user stops ``owned``."""
    me = f"{os.getpid()}-{name}"
    with locked(settings) as users:
        started = start()
        owned = users / "owned"
        previous = owned.read_text().split() if owned.exists() else []
        owned.write_text("\n".join(dict.fromkeys([*previous, *started])))
        (users / me).touch()
    try:
        yield
    finally:
        with locked(settings) as users:
            (users / me).unlink(missing_ok=True)
            others = [u for u in users.iterdir() if u.name != "owned" and _live(u)]
            if not others and owned.exists():
                stop(owned.read_text().split())
                owned.unlink()
