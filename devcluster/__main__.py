"""``python -m devcluster up|down|env|status``: the Makefile's cluster targets."""

from __future__ import annotations

import argparse
import json

from devcluster import sharing, stack
from devcluster.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devcluster", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "env", "status"])
    command = parser.parse_args().command
    settings = Settings.from_env()
    if command == "up":
        with sharing.locked(settings):
            stack.up(settings)
    elif command == "down":
        with sharing.locked(settings):
            print("stopped:", " ".join(stack.down(settings)) or "nothing")
    elif command == "env":
        print(stack.env_lines(settings), end="")
    else:
        print(json.dumps(stack.status(settings), indent=2))


if __name__ == "__main__":
    main()
