"""Start the ranks of this node with torchrun when the rendezvous env asks for more than one.

torchrun runs in this process; each worker writes its summary to ``<reports>/rank-N.json``
instead of the termination log, and the launcher copies the one that matters (the first failure,
or this node's lowest rank on success) and propagates its exit code, so a dataset error in a
worker still ends the pod with exit code 3.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import parse_args, run

from finetune_api import pod
from finetune_api.reasons import Reason
from finetune_api.reports import parse_summary
from finetune_trainer.config import Rendezvous
from finetune_trainer.report import REPORTS_ENV, failure, write_termination

log = logging.getLogger(__name__)


def torchrun(rdzv: Rendezvous, argv: list[str]) -> int:
    reports = Path(tempfile.mkdtemp(prefix="finetune-reports-"))
    os.environ[REPORTS_ENV] = str(reports)
    args = parse_args(  # type: ignore[no-untyped-call]
        [
            f"--nnodes={rdzv.nnodes}",
            f"--node_rank={rdzv.node_rank}",
            f"--nproc_per_node={rdzv.nproc_per_node}",
            f"--master_addr={rdzv.master_addr}",
            f"--master_port={rdzv.master_port}",
            "--max_restarts=0",
            "--module",
            "finetune_trainer",
            *argv,
        ]
    )
    log.info("launching %d local ranks of %d", rdzv.nproc_per_node, rdzv.world_size)
    rank, code = rdzv.node_rank * rdzv.nproc_per_node, 0
    try:
        run(args)  # type: ignore[no-untyped-call]
    except ChildFailedError as exc:
        rank, first = exc.get_first_failure()
        code = first.exitcode if first.exitcode > 0 else 1
    except SignalException:
        # SIGTERM to the pod: torchrun passes it to the ranks, which checkpoint and exit 143.
        code = pod.EXIT_PREEMPTED
    finally:
        del os.environ[REPORTS_ENV]  # the launcher itself reports to the termination log
    report = reports / f"rank-{rank}.json"
    summary = parse_summary(report.read_bytes()) if report.exists() else None
    if summary is not None:
        write_termination(summary)
    elif code:
        write_termination(
            failure(Reason.ERROR, f"rank {rank} exited with code {code}; see its log")
        )
    return code
