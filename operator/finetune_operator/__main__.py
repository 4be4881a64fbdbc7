"""``python -m finetune_operator``: parse flags, then run Kopf with our handlers."""

from __future__ import annotations

import logging
import os
import sys

import kopf

from finetune_operator import handlers
from finetune_operator.config import parse_config


def main() -> None:
    config = parse_config(sys.argv[1:], os.environ)
    # Kopf's formatter prefixes per-object lines with [namespace/name].
    kopf.configure(debug=config.log_level == "DEBUG", log_prefix=True)
    logging.getLogger().setLevel(config.log_level)
    logging.getLogger(__name__).info(
        "starting; namespaces=%s trainer-image=%s handlers=%s",
        ",".join(config.namespaces) or "all",
        config.trainer_image,
        handlers.__name__,
    )
    kopf.run(
        # Peering (or standalone) is set by the startup handler: finetune_operator.peering.
        clusterwide=not config.namespaces,
        namespaces=config.namespaces,
        liveness_endpoint=(
            f"http://0.0.0.0:{config.liveness_port}/healthz" if config.liveness_port else None
        ),
        memo=kopf.Memo(config=config),
    )


if __name__ == "__main__":
    main()
