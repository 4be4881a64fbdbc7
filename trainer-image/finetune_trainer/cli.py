"""``python -m finetune_trainer {validate,train} --job FILE``: parse, dispatch, report, exit."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable

from pydantic import ValidationError

from finetune_api.jobspec import FineTuneJob
from finetune_api.reasons import Reason
from finetune_api.reports import Summary
from finetune_api.spec_reader import read_job_file
from finetune_trainer.config import (
    Rendezvous,
    is_worker,
    set_thread_env,
    single_process_env,
    use_scratch,
)
from finetune_trainer.errors import InvalidConfig, TrainerError
from finetune_trainer.redact import RedactingFormatter
from finetune_trainer.report import failure, write_termination

log = logging.getLogger("finetune_trainer")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m finetune_trainer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("validate", "check the dataset and model; count examples and tokens"),
        ("train", "fine-tune and publish (launches torchrun when NNODESxNPROC_PER_NODE > 1)"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument(
            "--job", required=True, help="FineTuneJob manifest or rendered job.yaml"
        )
    return parser


def _load(path: str) -> FineTuneJob:
    try:
        read = read_job_file(path)
    except (OSError, ValueError, ValidationError) as exc:
        raise InvalidConfig(f"{path}: {exc}") from exc
    if read.unknown_fields:  # written by a newer operator: carry on with what this build knows
        log.warning(
            "ignoring job fields this trainer version does not know: %s",
            ", ".join(read.unknown_fields),
        )
    return read.job


def _reported(action: Callable[[], Summary]) -> int:
    """Run action; write its summary or its failure to the termination message; exit code."""
    try:
        summary = action()
    except TrainerError as exc:
        log.error("%s: %s", exc.reason, exc.message)
        write_termination(failure(exc.reason, exc.message))
        return exc.exit_code
    except Exception as exc:
        log.exception("failed")
        write_termination(failure(Reason.ERROR, f"{type(exc).__name__}: {exc}"))
        return 1
    write_termination(summary)
    print(json.dumps(summary.wire()), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    use_scratch(os.environ)  # first: the heavy imports below read the cache locations once
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    if args.command == "validate":
        from finetune_trainer import validate  # noqa: PLC0415 (heavy: torch, transformers)

        return _reported(lambda: validate.run(_load(args.job)))
    rdzv = Rendezvous.from_env()
    set_thread_env(os.environ)  # before torch loads, and before torchrun starts the ranks
    if not is_worker() and rdzv.world_size > 1:
        from finetune_trainer.launch import torchrun  # noqa: PLC0415 (heavy: torch)

        return torchrun(rdzv, argv)
    if not is_worker():
        single_process_env()
    from finetune_trainer import train  # noqa: PLC0415 (heavy: torch, transformers, DeepSpeed)

    return _reported(lambda: train.run(_load(args.job)).summary)
