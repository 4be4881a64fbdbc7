"""``kubectl finetune COMMAND``: the parser, the cluster connection and the one-line errors.

Global flags as kubectl's: ``--context`` (else the kubeconfig's current one; ``KUBECONFIG``
chooses the file) and ``-n/--namespace`` (else the context's namespace, else ``default``).
Every failure prints one line, ``error: ...``, and exits non-zero (2 for a bad flag or
manifest, 1 otherwise).
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from rich.console import Console

from finetune_cli import follow, jobs, kube
from finetune_cli.errors import CliError, UsageError
from finetune_cli.manifest import (
    SPEC_PATHS,
    JobFlags,
    flag_name,
    manifest_from_file,
    manifest_from_flags,
)

DESCRIPTION = "Create, follow and inspect FineTuneJobs (finetune.dev/v1alpha1); run one locally."
CREATE_FLAGS: dict[str, tuple[type, str]] = {
    "eval": (str, "eval set URI (spec.dataset.eval)"),
    "eval_split": (float, "share of train held out for eval (spec.dataset.evalSplit)"),
    "format": (str, "auto | chat | prompt-completion | text (spec.dataset.format)"),
    "method": (str, "lora | full (spec.method.type)"),
    "lora_r": (int, "LoRA rank (spec.method.lora.r)"),
    "epochs": (float, "spec.hyperparameters.epochs"),
    "learning_rate": (float, "spec.hyperparameters.learningRate"),
    "batch_size": (int, "global batch size (spec.hyperparameters.batchSize)"),
    "max_seq_length": (int, "spec.hyperparameters.maxSeqLength"),
    "max_steps": (int, "spec.hyperparameters.maxSteps"),
    "nodes": (int, "spec.resources.numNodes"),
    "gpus": (int, "GPUs per node (spec.resources.gpusPerNode)"),
    "credentials_secret": (str, "Secret with the S3 keys (spec.storage.secretRef.name)"),
    "s3_endpoint": (str, "S3-compatible endpoint URL (spec.storage.endpoint)"),
    "region": (str, "spec.storage.region"),
    "queue": (str, "Kueue LocalQueue (spec.queueName)"),
    "image": (str, "trainer image (spec.image)"),
}
"""``create``'s optional flags: type and help (``manifest.SPEC_PATHS`` says where each goes)."""


PIPE_WIDTH = 240


def add_global_flags(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--context", default=default, help="kubeconfig context (default: the current one)"
    )
    parser.add_argument(
        "-n",
        "--namespace",
        default=default,
        help="namespace (default: the context's, or default)",
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kubectl finetune", description=DESCRIPTION)
    add_global_flags(top, default=None)
    # As in kubectl, the global flags may also follow the command (`watch NAME -n ns`). The
    # commands' copies default to SUPPRESS so that, when absent there, they leave the value
    # given before the command (or None) alone.
    global_flags = argparse.ArgumentParser(add_help=False)
    add_global_flags(global_flags, default=argparse.SUPPRESS)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_command = functools.partial(commands.add_parser, parents=[global_flags])

    create = add_command("create", help="create a job from a manifest or from flags")
    create.add_argument("-f", "--filename", help="FineTuneJob manifest (YAML or JSON)")
    create.add_argument("--name", help="the job's name (with flags)")
    create.add_argument("--model", help="base model URI (spec.baseModel.uri)")
    create.add_argument("--data", help="training set URI (spec.dataset.train)")
    create.add_argument("--output", help="output URI (spec.output.uri)")
    for field, (kind, text) in CREATE_FLAGS.items():
        create.add_argument(flag_name(field), dest=field, type=kind, help=text)
    create.add_argument(
        "--merge", action="store_const", const=True, help="also publish merged weights"
    )
    create.add_argument(
        "--dry-run",
        nargs="?",
        const="client",
        default="none",
        choices=["none", "client", "server"],
        help="only print the manifest: as built (client) or as the apiserver would store it",
    )
    create.add_argument("-o", "--output-format", dest="format_out", choices=["yaml", "json"])

    listing = add_command("list", help="jobs with phase, progress, losses, accuracy, age")
    listing.add_argument("-A", "--all-namespaces", action="store_true")

    for name, text in (
        ("describe", "spec, conditions, dataset, metrics, checkpoint, output, events"),
        ("suspend", "stop the training pods; checkpoints stay (spec.runPolicy.suspend)"),
        ("resume", "resume a suspended job from its last checkpoint"),
        ("cancel", "delete the job and its pods; its output in S3 stays"),
    ):
        add_command(name, help=text).add_argument("name")

    watch = add_command("watch", help="live progress until the job ends")
    watch.add_argument("name")
    watch.add_argument("--interval", type=float, default=2.0, help="seconds between polls")

    logs = add_command("logs", help="the trainer's log")
    logs.add_argument("name")
    logs.add_argument("--rank", type=int, default=0, help="node rank (default 0)")
    logs.add_argument("-f", "--follow", action="store_true")

    plot = add_command("plot", help="PNG of train and eval loss from the job's output")
    plot.add_argument("name")
    plot.add_argument("-o", "--out", type=Path, help="PNG path (default NAME-loss.png)")
    plot.add_argument("--s3-endpoint", help="default: AWS_ENDPOINT_URL, else the job's endpoint")
    plot.add_argument("--region", help="default: AWS_REGION, else the job's region")

    run = add_command("run", help="train a job on this machine, no cluster")
    run.add_argument("--local", required=True, type=Path, metavar="FILE", help="job manifest")
    run.add_argument("--scratch", type=Path, help="work dir (default: $TMPDIR/finetune-local)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Piped output is not cut to 80 columns: a table line stays one line for grep and scripts.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else PIPE_WIDTH)
    try:
        run(args, console)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


def run(args: argparse.Namespace, console: Console) -> None:
    if args.command == "run":
        from finetune_cli.local import run_local  # noqa: PLC0415 (loads the trainer)

        run_local(console, args.local, args.scratch)
        return
    namespace = args.namespace or kube.context_namespace(args.context)
    if args.command == "create":
        body = create_body(args, namespace)
        offline = args.dry_run == "client"
        cluster = None if offline else connect(args.context, namespace)
        jobs.create(cluster, console, body, args.dry_run, args.format_out or "")
        return
    cluster = connect(args.context, namespace)
    if args.command == "list":
        jobs.list_jobs(cluster, console, args.all_namespaces)
    elif args.command == "describe":
        jobs.describe(cluster, console, args.name)
    elif args.command in ("suspend", "resume"):
        jobs.set_suspended(cluster, console, args.name, args.command == "suspend")
    elif args.command == "cancel":
        jobs.cancel(cluster, console, args.name)
    elif args.command == "watch":
        follow.watch(cluster, console, args.name, args.interval)
    elif args.command == "logs":
        follow.logs(cluster, console, args.name, args.rank, args.follow)
    elif args.command == "plot":
        from finetune_cli.plot import plot  # noqa: PLC0415 (loads matplotlib)

        plot(cluster, console, args.name, args.out, endpoint=args.s3_endpoint, region=args.region)


def connect(context: str | None, namespace: str | None) -> kube.Cluster:
    return kube.Cluster(kube.connect(context), namespace or "default")


def create_body(args: argparse.Namespace, namespace: str | None) -> dict[str, object]:
    """The manifest from -f, or from the flags (then --name, --model, --data, --output needed)."""
    given = {
        field: getattr(args, field) for field in SPEC_PATHS if getattr(args, field) is not None
    }
    if args.filename:
        if given or args.name:
            raise UsageError("give either -f FILE or flags, not both")
        return manifest_from_file(args.filename, namespace)
    missing = [flag_name(f) for f in ("name", "model", "data", "output") if not getattr(args, f)]
    if missing:
        raise UsageError(f"create needs -f FILE, or {', '.join(missing)}")
    return manifest_from_flags(JobFlags(name=args.name, **given), namespace)


if __name__ == "__main__":
    sys.exit(main())
