"""The storage retry policy, on a fake clock: transient errors are ridden out for the budget,
refused credentials for a shorter one, and final errors are raised at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from finetune_trainer.retry import (
    CREDENTIAL_RETRY_SECONDS_ENV,
    RETRY_SECONDS_ENV,
    RetriesExhausted,
    RetryPolicy,
    Verdict,
    backoff_delay,
    call_with_retries,
)

POLICY = RetryPolicy(budget_s=100, credentials_budget_s=20, first_delay_s=1, max_delay_s=8)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(times: int, error: Exception) -> Callable[[], str]:
    """An operation that raises error `times` times, then returns "ok"."""
    calls = {"n": 0}

    def operation() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error
        return "ok"

    return operation


class Outage(Exception):
    pass


class Refused(Exception):
    pass


def classify(exc: Exception) -> Verdict:
    return {Outage: Verdict.TRANSIENT, Refused: Verdict.CREDENTIALS}.get(type(exc), Verdict.FINAL)


def run(operation: Callable[[], str], clock: FakeTime) -> str:
    return call_with_retries(
        operation,
        what="get s3://b/k",
        classify=classify,
        policy=POLICY,
        clock=lambda: clock.now,
        sleep=clock.sleep,
        rand=lambda: 0.0,
    )


def test_transient_errors_are_ridden_out() -> None:
    clock = FakeTime()
    assert run(failing(5, Outage()), clock) == "ok"
    assert clock.sleeps == [0.5, 1, 2, 4, 4]  # doubling, capped at 8, jittered into [4, 8)


def test_transient_errors_give_up_within_the_budget() -> None:
    clock = FakeTime()
    with pytest.raises(RetriesExhausted) as err:
        run(failing(10_000, Outage()), clock)
    assert err.value.verdict is Verdict.TRANSIENT
    assert 90 <= err.value.elapsed_s <= POLICY.budget_s
    assert isinstance(err.value.last, Outage)


def test_refused_credentials_are_retried_for_the_shorter_budget() -> None:
    clock = FakeTime()
    assert run(failing(3, Refused()), clock) == "ok"
    with pytest.raises(RetriesExhausted) as err:
        run(failing(10_000, Refused()), FakeTime())
    assert err.value.verdict is Verdict.CREDENTIALS
    assert err.value.elapsed_s <= POLICY.credentials_budget_s


def test_final_errors_are_raised_at_once() -> None:
    clock = FakeTime()
    with pytest.raises(KeyError):
        run(failing(1, KeyError("missing")), clock)
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("attempt", "rand", "delay"), [(0, 0.0, 0.5), (0, 0.999, 0.9995), (10, 0.0, 4)]
)
def test_backoff_is_exponential_capped_and_jittered(
    attempt: int, rand: float, delay: float
) -> None:
    assert backoff_delay(POLICY, attempt, rand) == pytest.approx(delay)


def test_policy_from_env() -> None:
    env = {RETRY_SECONDS_ENV: "12", CREDENTIAL_RETRY_SECONDS_ENV: "3"}
    assert RetryPolicy.from_env(env) == RetryPolicy(budget_s=12, credentials_budget_s=3)
    assert RetryPolicy.from_env({}) == RetryPolicy()
