"""The cluster, as kubectl sees it: kubeconfig loading and the few API calls the commands make.

Configuration is the kubernetes client's own: ``KUBECONFIG`` (or ``~/.kube/config``) and
``--context``, else the in-cluster service account; the namespace is ``-n``, else the
context's, else ``default``, as in kubectl. Every failure becomes one of the CLI's errors with
a one-line message: not found, forbidden, invalid (the apiserver's message), unreachable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from finetune_api.resource import GROUP, PLURAL, VERSION
from finetune_cli.errors import CliError, ClusterUnreachable, NotFound, UsageError

REQUEST_TIMEOUT_S = 15
"""Per request (not for ``logs -f``): a cluster that does not answer fails fast, as kubectl's."""
JOB_LABEL = f"{GROUP}/job"
"""On every child of a FineTuneJob and on their pods (the operator's ``names.LABEL_JOB``)."""
ROLE_LABEL = f"{GROUP}/role"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
"""Pod annotation of an Indexed Job: the pod's node rank."""
TRAINER_CONTAINER = "trainer"


def context_namespace(context: str | None) -> str | None:
    """The namespace the kubeconfig's (chosen or current) context names, if any."""
    try:
        contexts, current = config.list_kube_config_contexts()
    except (ConfigException, OSError):
        return None
    chosen = next((c for c in contexts if c["name"] == context), None) if context else current
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else None


def connect(context: str | None) -> client.ApiClient:
    """An API client from the kubeconfig (or in-cluster config); ClusterUnreachable if none."""
    try:
        return config.new_client_from_config(context=context)
    except (ConfigException, OSError) as exc:
        if context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()
            return client.ApiClient()
        where = os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise ClusterUnreachable(f"no cluster configured ({where}): {exc}") from exc


class Cluster:
    """The calls the commands make, in one namespace (or all, for ``list -A``)."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.objects = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.server = api.configuration.host

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        try:
            yield
        except ApiException as exc:
            raise api_error(exc, what) from exc
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ClusterUnreachable(
                f"cannot reach the cluster at {self.server}: {reason}"
            ) from exc

    def get_job(self, name: str) -> dict[str, Any]:
        with self._calling(f"finetunejob {name!r} in namespace {self.namespace!r}"):
            job: dict[str, Any] = self.objects.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT_S
            )
        return job

    def list_jobs(self, all_namespaces: bool) -> list[dict[str, Any]]:
        with self._calling("finetunejobs"):
            if all_namespaces:
                found = self.objects.list_cluster_custom_object(
                    GROUP, VERSION, PLURAL, _request_timeout=REQUEST_TIMEOUT_S
                )
            else:
                found = self.objects.list_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, _request_timeout=REQUEST_TIMEOUT_S
                )
        items: list[dict[str, Any]] = found.get("items", [])
        return items

    def create_job(self, body: dict[str, Any], *, server_dry_run: bool) -> dict[str, Any]:
        name = body["metadata"]["name"]
        namespace = body["metadata"].get("namespace", self.namespace)
        options = {"dry_run": "All"} if server_dry_run else {}
        with self._calling(f"finetunejob {name!r}"):
            created: dict[str, Any] = self.objects.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, body, _request_timeout=REQUEST_TIMEOUT_S,
                **options,
            )  # fmt: skip
        return created

    def set_suspend(self, name: str, suspend: bool) -> dict[str, Any]:
        """Merge-patch ``spec.runPolicy.suspend``, the one field a started job may change."""
        with self._calling(f"finetunejob {name!r} in namespace {self.namespace!r}"):
            patched: dict[str, Any] = self.objects.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name,
                {"spec": {"runPolicy": {"suspend": suspend}}},
                _request_timeout=REQUEST_TIMEOUT_S,
            )  # fmt: skip
        return patched

    def delete_job(self, name: str) -> None:
        with self._calling(f"finetunejob {name!r} in namespace {self.namespace!r}"):
            self.objects.delete_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT_S
            )

    def events_for(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        """Events whose involvedObject is this job (by uid: a re-created job has another)."""
        uid = job["metadata"]["uid"]
        with self._calling("events"):
            found = self.core.list_namespaced_event(
                self.namespace,
                field_selector=f"involvedObject.uid={uid}",
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        return [self.api.sanitize_for_serialization(e) for e in found.items]

    def pods_of(self, name: str) -> list[dict[str, Any]]:
        with self._calling("pods"):
            found = self.core.list_namespaced_pod(
                self.namespace,
                label_selector=f"{JOB_LABEL}={name}",
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        return [self.api.sanitize_for_serialization(p) for p in found.items]

    def log_lines(self, pod: str, *, follow: bool) -> Iterator[str]:
        """The trainer container's log, line by line; with follow, until the container ends."""
        with self._calling(f"the log of pod {pod!r}"):
            response = self.core.read_namespaced_pod_log(
                pod, self.namespace, container=TRAINER_CONTAINER, follow=follow,
                _preload_content=False,
                _request_timeout=None if follow else REQUEST_TIMEOUT_S,
            )  # fmt: skip
            try:
                for line in response.stream():
                    yield from line.decode(errors="replace").splitlines()
            finally:
                response.release_conn()


def api_error(exc: ApiException, what: str) -> CliError:
    """The apiserver's refusal as one of the CLI's errors, its own message kept."""
    message = _status_message(exc)
    if exc.status == 404:
        return NotFound(f"{what} not found")
    if exc.status in (401, 403):
        return CliError(f"forbidden: {message}")
    if exc.status in (400, 409, 422):
        return UsageError(message)
    return CliError(f"the apiserver answered {exc.status} for {what}: {message}")


def _status_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.reason)
