"""The reconcile loop with a fake API: actions are idempotent, status is written only when it
changes, events follow status writes, and a fresh loop (operator restart) changes nothing."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import kopf
import pytest
import yaml
from tests.support.manifests import finetunejob

from finetune_api.reports import ProgressReport
from finetune_operator import reconcile
from finetune_operator.config import parse_config
from finetune_operator.kube import ApiError
from finetune_operator.observed import job_state, pod_state
from finetune_operator.progress_client import BadReport
from finetune_operator.watch_gaps import JobVanished

NAMESPACE, NAME = "team-a", "demo"
KEY = (NAMESPACE, NAME)
IMAGE = "localhost/trainer:1"


class FakeKube:
    """Records calls; `create` answers like the apiserver (False once the name exists, an
    ApiError for a kind in ``refuse``)."""

    def __init__(self, refuse: dict[str, ApiError] | None = None) -> None:
        self.refuse = refuse or {}
        self.objects: set[tuple[str, str]] = set()
        self.calls: list[tuple[str, str]] = []
        self.status_patches: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        self.present: set[str] = set()
        """UIDs a list answers with: what the test's indexes hold, less ``vanished``."""
        self.vanished: set[str] = set()
        self.lists = 0

    async def create(self, manifest: dict[str, Any]) -> bool:
        key = (manifest["kind"], manifest["metadata"]["name"])
        self.calls.append(("create", f"{key[0]}/{key[1]}"))
        if key[0] in self.refuse:
            raise self.refuse[key[0]]
        if key in self.objects:
            return False
        self.objects.add(key)
        self.created.append(manifest)
        return True

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("patch", path))
        if path.endswith("/status"):
            self.status_patches.append(patch["status"])
        return {}

    async def delete(self, path: str, *, foreground: bool = False) -> None:
        self.calls.append(("delete-foreground" if foreground else "delete", path))

    async def list_uids(self, path: str, label_selector: str = "") -> set[str]:
        self.lists += 1
        return self.present - self.vanished


def body(status: dict[str, Any] | None = None, **spec: Any) -> kopf.Body:
    raw: Any = finetunejob(
        NAME, NAMESPACE, uid="u-1", image=IMAGE, storage={"secretRef": {"name": "s3"}}, **spec
    )
    raw["metadata"] |= {"generation": 1, "creationTimestamp": "2026-11-28T10:00:00Z"}
    raw["status"] = status or {}
    # A plain dict: kopf's RawBody TypedDict has no key for metadata.generation.
    return kopf.Body(raw)


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    posted: list[str] = []
    monkeypatch.setattr(
        kopf, "event", lambda _body, *, type, reason, message: posted.append(reason)
    )
    return posted


def operator_state(kube: FakeKube) -> reconcile.OperatorState:
    config = parse_config(["--allowed-image", IMAGE, "--metrics-port", "0"], {})
    return reconcile.OperatorState(config=config, kube=kube)  # type: ignore[arg-type]


def owned_by(uid: str) -> list[dict[str, Any]]:
    return [{"uid": uid, "controller": True}]


def child(role: str, *, complete: bool = False, owner: str = "u-1") -> Any:
    return job_state(
        {
            "metadata": {
                "name": f"{NAME}-{role}",
                "namespace": NAMESPACE,
                "uid": f"{owner}-{role}",
                "ownerReferences": owned_by(owner),
                "labels": {"finetune.dev/job": NAME, "finetune.dev/role": role},
            },
            "status": {"conditions": [{"type": "Complete", "status": "True"}]} if complete else {},
        }
    )


def validate_pod(owner: str = "u-1", **reported: Any) -> Any:
    summary = {"ok": True, "kind": "validate", "dataset": {"trainExamples": 3}, **reported}
    return pod_state(
        {
            "metadata": {
                "name": f"{NAME}-validate-x",
                "namespace": NAMESPACE,
                "ownerReferences": owned_by(f"{owner}-validate"),
                "labels": {"finetune.dev/job": NAME, "finetune.dev/role": "validate"},
            },
            "status": {
                "phase": "Succeeded",
                "containerStatuses": [
                    {
                        "name": "trainer",
                        "state": {"terminated": {"exitCode": 0, "message": json.dumps(summary)}},
                    }
                ],
            },
        }
    )


def run(loop: reconcile.JobLoop, jobs: dict[Any, list[Any]], pods: dict[Any, list[Any]]) -> None:
    kube = loop.shared.kube
    assert isinstance(kube, FakeKube)
    held = [state for states in (*jobs.values(), *pods.values()) for state in states]
    kube.present = {state.uid for state in held} | {loop.body.metadata.uid or ""}
    asyncio.run(loop.step(jobs, pods))


def test_passes_are_idempotent_and_write_only_changes(events: list[str]) -> None:
    kube = FakeKube()
    loop = reconcile.JobLoop(operator_state(kube), body(), logging.getLogger("test"))

    run(loop, {}, {})
    assert kube.calls[:2] == [("create", "ConfigMap/demo-config"), ("create", "Job/demo-validate")]
    assert kube.status_patches[-1]["phase"] == "Validating"
    assert events == ["Validating"]

    run(loop, {KEY: [child("validate")]}, {})  # validation still running: nothing to do
    assert len(kube.status_patches) == 1
    assert events == ["Validating"]

    jobs = {KEY: [child("validate", complete=True)]}
    run(loop, jobs, {KEY: [validate_pod()]})
    assert ("create", "Job/demo-train") in kube.calls
    assert ("create", "Service/demo-train") in kube.calls
    assert kube.status_patches[-1]["phase"] == "Running"
    assert kube.status_patches[-1]["dataset"] == {"trainExamples": 3}
    assert events == ["Validating", "Running"]

    # The index has not caught up yet: the create is repeated, and answered "already there".
    run(loop, jobs, {KEY: [validate_pod()]})
    assert sum(1 for c in kube.calls if c == ("create", "Job/demo-train")) == 2
    assert len(kube.objects) == 4
    assert len(kube.status_patches) == 2

    # A restarted operator starts from the stored status and changes nothing.
    kube.calls.clear()
    stored = loop.status
    fresh = reconcile.JobLoop(operator_state(kube), body(stored), logging.getLogger("test"))
    run(fresh, {KEY: [child("validate", complete=True), child("train")]}, {KEY: [validate_pod()]})
    assert kube.calls == []
    assert events == ["Validating", "Running"]


SHA = "0123456789abcdef0123456789abcdef01234567"


def test_training_pods_read_the_commit_the_validation_pod_resolved(events: list[str]) -> None:
    """The branch may move after validation: the training pods' own job document names the
    validated commit, also for an attempt a restarted operator creates once the validation
    pod is gone. The validator's document and the spec stay the user's."""
    kube = FakeKube()
    hub = {"uri": "hf://org/tiny@main"}
    loop = reconcile.JobLoop(operator_state(kube), body(baseModel=hub), logging.getLogger("test"))
    run(loop, {}, {})
    validated = {KEY: [child("validate", complete=True)]}
    run(loop, validated, {KEY: [validate_pod(baseModel={"revision": SHA})]})
    assert kube.status_patches[-1]["baseModel"] == {"revision": SHA}
    made = {(m["kind"], m["metadata"]["name"]): m for m in kube.created}

    def document(config_map: str) -> Any:
        return yaml.safe_load(made["ConfigMap", config_map]["data"]["job.yaml"])

    assert document("demo-config")["spec"]["baseModel"] == hub
    assert document("demo-train-config")["spec"]["baseModel"] == {"uri": f"hf://org/tiny@{SHA}"}
    volumes = made["Job", "demo-train"]["spec"]["template"]["spec"]["volumes"]
    assert volumes[0]["configMap"]["name"] == "demo-train-config"
    assert all(path.endswith("/status") for verb, path in kube.calls if verb == "patch")

    kube.objects.discard(("Job", "demo-train"))  # attempt 1 failed and was deleted
    kube.created.clear()
    status = {**loop.status, "attempts": 2, "failedAttempts": 1}
    fresh = reconcile.JobLoop(
        operator_state(kube), body(status, baseModel=hub), logging.getLogger("test")
    )
    run(fresh, validated, {})
    [attempt] = kube.created
    assert attempt["metadata"]["annotations"] == {"finetune.dev/attempt": "2"}
    volumes = attempt["spec"]["template"]["spec"]["volumes"]
    assert volumes[0]["configMap"]["name"] == "demo-train-config"


def failed_attempt(attempt: int, *, deleting: bool = False) -> Any:
    message = (
        f"Container trainer for pod {NAMESPACE}/{NAME}-train-1-x failed with exit code 1 "
        "matching FailJob rule at index 2"
    )
    metadata: dict[str, Any] = {
        "name": f"{NAME}-train",
        "namespace": NAMESPACE,
        "uid": f"u-1-train-{attempt}",
        "ownerReferences": owned_by("u-1"),
        "labels": {"finetune.dev/job": NAME, "finetune.dev/role": "train"},
        "annotations": {"finetune.dev/attempt": str(attempt)},
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-28T10:00:00Z"
    failed = {"type": "Failed", "status": "True", "reason": "PodFailurePolicy", "message": message}
    return job_state({"metadata": metadata, "status": {"conditions": [failed]}})


def test_a_failed_attempt_is_recorded_deleted_in_the_foreground_and_recreated(
    events: list[str],
) -> None:
    """One rank failed: the failure is written first, then the whole Job is deleted in the
    foreground (it stays until its pods are gone), then attempt 2 is created under the same
    name; a restarted operator in between carries on without counting the failure twice."""
    kube = FakeKube()
    validated = {"type": "Validated", "status": "True", "reason": "DatasetValid"}
    running = {"phase": "Running", "attempts": 1, "conditions": [validated]}
    loop = reconcile.JobLoop(operator_state(kube), body(running), logging.getLogger("test"))
    validate = child("validate", complete=True)

    run(loop, {KEY: [validate, failed_attempt(1)]}, {})
    assert kube.calls == [
        ("patch", f"/apis/finetune.dev/v1alpha1/namespaces/{NAMESPACE}/finetunejobs/{NAME}/status")
    ]
    assert (kube.status_patches[-1]["attempts"], kube.status_patches[-1]["failedAttempts"]) == (
        2,
        1,
    )
    assert events == ["Restarting"]

    kube.calls.clear()
    fresh = reconcile.JobLoop(operator_state(kube), body(loop.status), logging.getLogger("test"))
    run(fresh, {KEY: [validate, failed_attempt(1)]}, {})
    assert kube.calls == [
        ("delete-foreground", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{NAME}-train")
    ]
    run(fresh, {KEY: [validate, failed_attempt(1, deleting=True)]}, {})
    assert len(kube.calls) == 1

    run(fresh, {KEY: [validate]}, {})
    job = next(m for m in kube.created if m["kind"] == "Job")
    assert job["metadata"]["name"] == f"{NAME}-train"
    assert job["metadata"]["annotations"] == {"finetune.dev/attempt": "2"}
    assert fresh.status["attempts"] == 2
    assert fresh.status["failedAttempts"] == 1
    assert events == ["Restarting"]


def test_deleted_before_finishing_is_cancelled(events: list[str]) -> None:
    kube = FakeKube()
    loop = reconcile.JobLoop(
        operator_state(kube), body({"phase": "Running"}), logging.getLogger("test")
    )
    asyncio.run(loop.cancel())
    assert kube.status_patches[-1]["phase"] == "Cancelled"
    assert events == ["Cancelled"]


def test_pod_that_never_starts_fails_the_job_and_deletes_its_job(events: list[str]) -> None:
    kube = FakeKube()
    validating = {"phase": "Validating", "observedGeneration": 1}
    loop = reconcile.JobLoop(operator_state(kube), body(validating), logging.getLogger("test"))
    waiting = {"reason": "ErrImagePull", "message": 'failed to pull "localhost/trainer:1"'}
    stuck = pod_state(
        {
            "metadata": {
                "name": f"{NAME}-validate-x",
                "namespace": NAMESPACE,
                "ownerReferences": owned_by("u-1-validate"),
                "labels": {"finetune.dev/job": NAME, "finetune.dev/role": "validate"},
                "creationTimestamp": "2020-01-01T00:00:00Z",  # long past the timeout
            },
            "status": {
                "phase": "Pending",
                "containerStatuses": [{"name": "trainer", "state": {"waiting": waiting}}],
            },
        }
    )
    run(loop, {KEY: [child("validate")]}, {KEY: [stuck]})
    assert kube.calls[0] == ("delete", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/demo-validate")
    assert kube.status_patches[-1]["phase"] == "Failed"
    assert events == ["ImagePullFailed"]


def test_children_of_an_earlier_job_with_the_same_name_are_never_adopted(
    events: list[str],
) -> None:
    """Deleted and created again under the same name (``kubectl replace --force``): the old
    Jobs, finished and successful, are still there; the new job waits instead of taking their
    result, and validates on its own once they are gone."""
    kube = FakeKube()
    loop = reconcile.JobLoop(operator_state(kube), body(), logging.getLogger("test"))
    old = {
        KEY: [
            child("validate", complete=True, owner="u-0"),
            child("train", complete=True, owner="u-0"),
        ]
    }
    run(loop, old, {KEY: [validate_pod(owner="u-0")]})
    assert kube.calls == [
        ("patch", f"/apis/finetune.dev/v1alpha1/namespaces/{NAMESPACE}/finetunejobs/{NAME}/status")
    ]
    assert kube.status_patches[-1]["phase"] == "Validating"
    assert "dataset" not in kube.status_patches[-1]
    assert kube.status_patches[-1]["conditions"][0]["reason"] == "WaitingForOldChildren"

    run(loop, {}, {})  # garbage collection took them
    assert ("create", "Job/demo-validate") in kube.calls


def test_unknown_spec_field_keeps_a_running_job_running(events: list[str]) -> None:
    """A CRD upgraded before the operator: a field this build does not know is ignored and
    named, never a reason to fail a job that is training."""
    kube = FakeKube()
    running = {"phase": "Running", "conditions": [{"type": "Validated", "status": "True"}]}
    job = body(running)
    job["spec"]["resources"] = {"topologyHint": "rack"}
    loop = reconcile.JobLoop(operator_state(kube), job, logging.getLogger("test"))
    run(loop, {KEY: [child("validate", complete=True), child("train")]}, {})
    written = kube.status_patches[-1]
    assert "phase" not in written  # unchanged: still Running
    understood = next(c for c in written["conditions"] if c["type"] == "SpecUnderstood")
    assert understood["reason"] == "UnknownFields"
    assert "spec.resources.topologyHint" in understood["message"]
    assert events == []


@pytest.mark.parametrize(
    ("error", "field"),
    [
        (
            ApiError(
                422,
                'Job.batch "demo-validate" is invalid: '
                'spec.template.spec.nodeSelector: Invalid value: "a b"',
            ),
            "nodeSelector",
        ),
        (
            ApiError(403, 'jobs.batch "demo-validate" is forbidden: exceeded quota: jobs'),
            "exceeded quota",
        ),
    ],
    ids=["invalid", "forbidden"],
)
def test_child_the_apiserver_rejects_fails_the_job_in_one_pass(
    events: list[str], error: ApiError, field: str
) -> None:
    kube = FakeKube(refuse={"Job": error})
    loop = reconcile.JobLoop(operator_state(kube), body(), logging.getLogger("test"))
    run(loop, {}, {})
    written = kube.status_patches[-1]
    assert written["phase"] == "Failed"
    failed = next(c for c in written["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "ChildRejected"
    assert field in failed["message"]
    assert events == ["ChildRejected"]


def test_other_api_errors_are_retried_not_final(events: list[str]) -> None:
    kube = FakeKube(refuse={"Job": ApiError(500, "etcd timeout")})
    loop = reconcile.JobLoop(operator_state(kube), body(), logging.getLogger("test"))
    with pytest.raises(ApiError):
        run(loop, {}, {})
    assert kube.status_patches == []


def train_pod(name: str, owner: str, *, index: str = "0", ip: str = "10.0.0.9") -> Any:
    return pod_state(
        {
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "creationTimestamp": "2026-11-28T11:00:00Z",
                "ownerReferences": owned_by(owner),
                "labels": {"finetune.dev/job": NAME, "finetune.dev/role": "train"},
                "annotations": {"batch.kubernetes.io/job-completion-index": index},
            },
            "status": {"phase": "Running", "podIP": ip},
        }
    )


def test_only_rank_0_of_this_jobs_own_training_job_is_polled() -> None:
    """Pods are matched to the training Job by its UID, never by labels and name alone."""
    training = child("train")  # uid u-1-train, controlled by FineTuneJob u-1
    impostor = train_pod("demo-train-0-fake", "someone-else", ip="10.0.0.66")
    earlier = train_pod("demo-train-0-old", "u-0-train", ip="10.0.0.77")
    rank1 = train_pod("demo-train-1-x", "u-1-train", index="1", ip="10.0.0.8")
    validation = train_pod("demo-validate-x", "u-1-validate", ip="10.0.0.5")
    pods = [impostor, earlier, rank1, validation]
    assert reconcile.pod0_ip(pods, training) is None
    assert reconcile.pod0_ip([*pods, train_pod("demo-train-0-x", "u-1-train")], training) == (
        "10.0.0.9"
    )
    assert reconcile.pod0_ip([train_pod("demo-train-0-x", "u-1-train")], None) is None


def test_a_bad_report_is_logged_once_and_the_last_good_one_kept(
    events: list[str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    answers: list[Any] = [
        ProgressReport(step=5),
        BadReport("step: Input should be greater than or equal to 0"),
        BadReport("step: Input should be greater than or equal to 0"),
        ProgressReport(step=6),
    ]

    async def fake_fetch(ip: str) -> ProgressReport | None:
        assert ip == "10.0.0.9"
        answer = answers.pop(0)
        if isinstance(answer, BadReport):
            raise answer
        return answer  # type: ignore[no-any-return]

    monkeypatch.setattr(reconcile, "fetch_progress", fake_fetch)
    kube = FakeKube()
    state = operator_state(kube)
    loop = reconcile.JobLoop(state, body({"phase": "Running"}), logging.getLogger("test"))
    jobs = {KEY: [child("validate", complete=True), child("train")]}
    pods = {KEY: [validate_pod(), train_pod("demo-train-0-x", "u-1-train")]}
    steps = []
    for _ in range(4):
        loop.polled_at = 0.0  # due again
        with caplog.at_level(logging.WARNING):
            run(loop, jobs, pods)
        steps.append(loop.status["progress"]["step"])
    assert steps == [5, 5, 5, 6]
    refused = [r for r in caplog.records if "ignoring progress report" in r.getMessage()]
    assert len(refused) == 1
    assert "greater than or equal to 0" in refused[0].getMessage()


def test_a_job_without_secret_ref_creates_nothing_and_fails_naming_the_field(
    events: list[str],
) -> None:
    raw: Any = finetunejob(NAME, NAMESPACE, uid="u-1", image=IMAGE)
    raw["metadata"]["generation"] = 1
    kube = FakeKube()
    loop = reconcile.JobLoop(operator_state(kube), kopf.Body(raw), logging.getLogger("test"))
    run(loop, {}, {})
    assert [call for call in kube.calls if call[0] == "create"] == []
    assert kube.status_patches[-1]["phase"] == "Failed"
    failed = next(c for c in kube.status_patches[-1]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "SecretRefRequired"
    assert "spec.storage.secretRef" in failed["message"]
    assert events == ["SecretRefRequired"]


def limited_state(kube: FakeKube) -> reconcile.OperatorState:
    config = parse_config(
        ["--allowed-image", IMAGE, "--metrics-port", "0", "--max-running-per-namespace", "1"], {}
    )
    return reconcile.OperatorState(config=config, kube=kube)  # type: ignore[arg-type]


@pytest.mark.parametrize("vanished", [False, True], ids=["still-there", "deleted-in-a-gap"])
def test_a_training_job_deleted_in_a_watch_gap_holds_no_slot(
    events: list[str], vanished: bool
) -> None:
    """Another job's unfinished training Job takes the namespace's only slot while the
    apiserver has it; once an audit finds it gone (no DELETED came: Kopf re-listed after a
    broken watch), it no longer counts, and this job starts training."""
    kube = FakeKube()
    loop = reconcile.JobLoop(limited_state(kube), body(), logging.getLogger("test"))
    run(loop, {}, {})
    other = child("train", owner="u-2")
    kube.vanished = {other.uid} if vanished else set()
    loop.shared.gaps.audited_at.clear()  # the next pass audits again
    jobs = {KEY: [child("validate", complete=True)], (NAMESPACE, "other"): [other]}
    run(loop, jobs, {KEY: [validate_pod()]})
    assert kube.status_patches[-1]["phase"] == ("Running" if vanished else "Queued")
    assert (("create", "Job/demo-train") in kube.calls) is vanished


def test_a_job_deleted_in_a_watch_gap_ends_its_loop(events: list[str]) -> None:
    kube = FakeKube()
    loop = reconcile.JobLoop(operator_state(kube), body(), logging.getLogger("test"))
    kube.vanished = {"u-1"}
    with pytest.raises(JobVanished):
        run(loop, {}, {})
    assert kube.calls == [], "nothing created or written for a job the apiserver lost"


def test_a_namespace_is_audited_once_an_interval(events: list[str]) -> None:
    kube = FakeKube()
    state = operator_state(kube)
    first = reconcile.JobLoop(state, body(), logging.getLogger("test"))
    run(first, {}, {})
    run(first, {}, {})
    assert kube.lists == 3, "jobs, pods and FineTuneJobs, once"
    state.gaps.audited_at[NAMESPACE] -= state.config.audit_interval
    run(first, {}, {})
    assert kube.lists == 6


@pytest.mark.parametrize("policy", [False, True], ids=["no-policy", "trainer-network-policy"])
def test_training_creates_the_network_policy_only_when_asked(
    events: list[str], policy: bool
) -> None:
    flags = ["--allowed-image", IMAGE, "--metrics-port", "0"]
    if policy:
        flags += ["--trainer-network-policy=true", "--operator-namespace=ops"]
        flags += ["--operator-pod-labels=app=op"]
    kube = FakeKube()
    state = reconcile.OperatorState(config=parse_config(flags, {}), kube=kube)  # type: ignore[arg-type]
    loop = reconcile.JobLoop(state, body(), logging.getLogger("test"))
    run(loop, {}, {})
    run(loop, {KEY: [child("validate", complete=True)]}, {KEY: [validate_pod()]})
    created = [call for call in kube.calls if call[0] == "create"]
    assert (("create", "NetworkPolicy/demo-train") in created) is policy
    assert created[-1] == ("create", "Job/demo-train"), "the pods start behind their policy"
