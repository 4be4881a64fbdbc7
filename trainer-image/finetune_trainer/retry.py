"""Bounded retries with backoff, for calls to object storage.

botocore retries each request a few times on its own (``storage.py`` configures it); this layer
retries a whole call (a listing from its first page, a file upload or download from its first
byte) for a bounded time, so an S3 outage of a minute or two is ridden out instead of failing a
job that has trained for hours. Which errors are worth retrying is the caller's ``classify``;
this module only knows time. Clock, sleep and randomness are parameters, so the policy is
tested without waiting.
"""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

RETRY_SECONDS_ENV = "FINETUNE_STORAGE_RETRY_SECONDS"
CREDENTIAL_RETRY_SECONDS_ENV = "FINETUNE_STORAGE_CREDENTIAL_RETRY_SECONDS"

T = TypeVar("T")
log = logging.getLogger(__name__)


class Verdict(enum.Enum):
    """What a failed attempt says about the next one."""

    TRANSIENT = "transient"
    """The service is down, slow or throttling: retry for ``budget_s``."""
    CREDENTIALS = "credentials"
    """Refused credentials that may become valid (a policy propagating, a token refreshing):
    retry for ``credentials_budget_s``, then they count as wrong."""
    FINAL = "final"
    """Retrying cannot help (missing object, no such bucket, a bad key): raise at once."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long one storage call keeps trying, and how long it waits between attempts."""

    budget_s: float = 300.0
    """A call that keeps failing transiently gives up after this long
    (``FINETUNE_STORAGE_RETRY_SECONDS``); the job then fails with StorageUnavailable."""
    credentials_budget_s: float = 60.0
    """AccessDenied and ExpiredToken are retried this long before they are InvalidCredentials
    (``FINETUNE_STORAGE_CREDENTIAL_RETRY_SECONDS``)."""
    first_delay_s: float = 1.0
    """The first wait; each later one doubles, up to ``max_delay_s``."""
    max_delay_s: float = 15.0
    """The longest wait: an outage's end is noticed within this long."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RetryPolicy:
        default = cls()
        return cls(
            budget_s=float(env.get(RETRY_SECONDS_ENV) or default.budget_s),
            credentials_budget_s=float(
                env.get(CREDENTIAL_RETRY_SECONDS_ENV) or default.credentials_budget_s
            ),
        )

    def budget(self, verdict: Verdict) -> float:
        return self.credentials_budget_s if verdict is Verdict.CREDENTIALS else self.budget_s


def backoff_delay(policy: RetryPolicy, attempt: int, rand: float) -> float:
    """The wait after failed attempt number ``attempt`` (0-based): exponential, capped, and
    jittered into its upper half (rand in [0, 1)), so many ranks do not retry in lockstep."""
    ceiling = min(policy.max_delay_s, policy.first_delay_s * 2.0**attempt)
    return ceiling * (0.5 + rand / 2)


class RetriesExhausted(Exception):
    """A call failed for longer than its budget; ``last`` is the final attempt's error."""

    def __init__(self, verdict: Verdict, elapsed_s: float, last: Exception) -> None:
        super().__init__(
            f"gave up after {elapsed_s:.0f} s ({verdict.value}): {type(last).__name__}"
        )
        self.verdict = verdict
        self.elapsed_s = elapsed_s
        self.last = last


def call_with_retries(
    operation: Callable[[], T],
    *,
    what: str,
    classify: Callable[[Exception], Verdict],
    policy: RetryPolicy,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """operation's result; FINAL errors raised as they are, others retried until their budget
    would be exceeded by the next wait, then RetriesExhausted."""
    start = clock()
    attempt = 0
    while True:
        try:
            return operation()
        except Exception as exc:
            verdict = classify(exc)
            if verdict is Verdict.FINAL:
                raise
            elapsed = clock() - start
            delay = backoff_delay(policy, attempt, rand())
            if elapsed + delay > policy.budget(verdict):
                raise RetriesExhausted(verdict, elapsed, exc) from exc
            log.warning(
                "storage: %s failed (%s, %s); retry %d in %.1f s (%.0f of %.0f s used)",
                what, type(exc).__name__, verdict.value, attempt + 1, delay, elapsed,
                policy.budget(verdict),
            )  # fmt: skip
            sleep(delay)
            attempt += 1
