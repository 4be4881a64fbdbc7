"""S3 outages for tests: stop the session's SeaweedFS and bring it back later."""

from __future__ import annotations

import threading

from devcluster import procs
from devcluster import s3 as s3_server
from devcluster.settings import Settings


class Outage:
    """Stops the session's S3 server; it comes back after the given seconds (or at teardown)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.timers: list[threading.Timer] = []

    @property
    def started(self) -> bool:
        return bool(self.timers) or not procs.running(self.settings, s3_server.NAME)

    def begin(self, seconds: float | None) -> None:
        """Stop S3 now; start it again after `seconds` (None: only at the test's end)."""
        s3_server.down(self.settings)
        if seconds is not None:
            timer = threading.Timer(seconds, s3_server.start, [self.settings])
            timer.start()
            self.timers.append(timer)

    def end(self) -> None:
        for timer in self.timers:
            timer.join()
        s3_server.up(self.settings)
