"""The CLI's few errors: each prints as one line and ends the command with its exit code."""

from __future__ import annotations


class CliError(Exception):
    """A failure the user can act on; ``str(exc)`` is the whole message."""

    exit_code = 1


class UsageError(CliError):
    """A bad flag or manifest (kubectl's and argparse's code for usage errors)."""

    exit_code = 2


class NotFound(CliError):
    """The job (or its pod, or its output) does not exist."""


class ClusterUnreachable(CliError):
    """No cluster configured, or it does not answer."""


class CredentialsMissing(CliError):
    """No S3 credentials for a command that reads the job's output."""


class JobDidNotSucceed(CliError):
    """A watched or local job ended Failed or Cancelled."""
