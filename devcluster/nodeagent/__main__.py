"""``python -m devcluster.nodeagent``: run the node agent until SIGTERM."""

from __future__ import annotations

import logging
import signal
from types import FrameType

from devcluster.nodeagent.agent import Agent
from devcluster.nodeagent.config import AgentConfig
from devcluster.settings import Settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    agent = Agent(AgentConfig.from_settings(Settings.from_env()))

    def stop(signum: int, frame: FrameType | None) -> None:
        agent.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    agent.run()


if __name__ == "__main__":
    main()
