"""The operator's Kubernetes API client: a small async JSON client on aiohttp.

Kopf brings aiohttp and its own credential discovery (in-cluster service account, else
KUBECONFIG), so the operator needs no other Kubernetes library. Only what the reconciler uses is
here: create-if-absent, merge-patch, delete. Kopf's own watches and events use Kopf's client.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import ssl
import tempfile
from collections.abc import Mapping
from typing import Any

import aiohttp
import kopf

from finetune_api.resource import API_VERSION, PLURAL
from finetune_operator import names
from finetune_operator.observed import controller_uid

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)
"""Fail fast on a hung apiserver call; the reconcile loop retries on its next pass."""


_WRITE_PARAMS = {"fieldManager": names.FIELD_MANAGER}


class ApiError(Exception):
    """A non-2xx answer from the apiserver."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message

    @property
    def rejected(self) -> bool:
        """The apiserver refused the object itself (422 invalid; 403 forbidden by an admission
        plugin or quota): sending it again gets the same answer."""
        return self.status in (403, 422)


class ForeignChild(Exception):
    """A child's name is taken by an object another owner controls (an earlier FineTuneJob of
    the same name not yet garbage-collected, or an orphan): it is not ours to adopt."""


def _materialise(data: str | bytes) -> str:
    """A file holding base64-decoded ``data`` (ssl.load_cert_chain reads only files)."""
    with tempfile.NamedTemporaryFile(delete=False, suffix=".pem") as handle:
        handle.write(base64.b64decode(data))
        return handle.name


def _ssl_context(info: kopf.ConnectionInfo) -> ssl.SSLContext:
    cadata = base64.b64decode(info.ca_data).decode() if info.ca_data else None
    context = ssl.create_default_context(cafile=info.ca_path, cadata=cadata)
    if info.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert = info.certificate_path or (
        _materialise(info.certificate_data) if info.certificate_data else None
    )
    key = info.private_key_path or (
        _materialise(info.private_key_data) if info.private_key_data else None
    )
    if cert:
        context.load_cert_chain(cert, key)
    return context


def _login(settings: kopf.OperatorSettings) -> kopf.ConnectionInfo:
    info = kopf.login_with_service_account(settings=settings)
    if info is not None:
        return _in_cluster_server(info, os.environ)
    info = kopf.login_with_kubeconfig(settings=settings)
    if info is None:
        raise kopf.LoginError("no in-cluster service account and no KUBECONFIG")
    return info


def _in_cluster_server(info: kopf.ConnectionInfo, env: Mapping[str, str]) -> kopf.ConnectionInfo:
    """Address the apiserver as client-go's in-cluster config does: from the service variables
    the kubelet injects. Kopf's minimal login assumes cluster DNS for kubernetes.default.svc,
    which clusters without CoreDNS (or with a custom domain) do not resolve."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return info
    host = f"[{host}]" if ":" in host else host
    return dataclasses.replace(info, server=f"https://{host}:{port}")


class KubeClient:
    """One aiohttp session to the apiserver; re-reads credentials once on a 401."""

    def __init__(self, settings: kopf.OperatorSettings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._server = ""

    async def _connect(self) -> aiohttp.ClientSession:
        if self._session is not None:
            await self._session.close()
        info = _login(self._settings)
        headers = {"Accept": "application/json"}
        if info.token:
            headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
        auth = aiohttp.BasicAuth(info.username, info.password or "") if info.username else None
        self._server = (info.server or "").rstrip("/")
        self._session = aiohttp.ClientSession(
            headers=headers,
            auth=auth,
            timeout=REQUEST_TIMEOUT,
            connector=aiohttp.TCPConnector(ssl=_ssl_context(info)),
        )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        session = self._session or await self._connect()
        for attempt in (1, 2):
            async with session.request(
                method,
                self._server + path,
                json=body,
                headers={"Content-Type": content_type},
                params=_WRITE_PARAMS if method in ("POST", "PATCH") else params,
            ) as response:
                if response.status == 401 and attempt == 1:
                    session = await self._connect()  # rotated service-account token
                    continue
                try:
                    payload = await response.json(content_type=None)
                except ValueError:  # a proxy's HTML error page, an empty body
                    payload = {}
                if response.status >= 400:
                    message = payload.get("message", "") if isinstance(payload, dict) else ""
                    raise ApiError(response.status, message or response.reason or "")
                return payload if isinstance(payload, dict) else {}
        raise AssertionError("unreachable")

    async def create(self, manifest: Mapping[str, Any]) -> bool:
        """Create ``manifest`` unless it exists; True if this call created it, False if it was
        there already with the same controlling owner. Raises ForeignChild when the name is
        held by an object of another owner: a 409 alone does not make it ours."""
        try:
            await self._request("POST", collection_path(manifest), manifest)
        except ApiError as error:
            if error.status != 409:
                raise
        else:
            return True
        name = manifest["metadata"]["name"]
        existing = await self._request("GET", f"{collection_path(manifest)}/{name}")
        ours = controller_uid(manifest["metadata"])
        theirs = controller_uid(existing.get("metadata") or {})
        if theirs != ours:
            raise ForeignChild(
                f"{manifest['kind']} {name} exists with owner uid {theirs or '(none)'}, "
                f"not {ours}; waiting for it to be deleted"
            )
        return False

    async def merge_patch(self, path: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        return await self._request("PATCH", path, patch, "application/merge-patch+json")

    async def delete(self, path: str, *, foreground: bool = False) -> None:
        """Delete the object at ``path``; already gone is fine. ``foreground``: the object
        stays, with a deletionTimestamp, until its dependents (a Job's pods) are gone."""
        policy = "Foreground" if foreground else "Background"
        try:
            await self._request("DELETE", path, {"propagationPolicy": policy})
        except ApiError as error:
            if error.status != 404:
                raise

    async def list_uids(self, path: str, label_selector: str = "") -> set[str]:
        """UIDs of the objects in the collection at ``path`` that match ``label_selector``."""
        params = {"labelSelector": label_selector} if label_selector else None
        listed = await self._request("GET", path, params=params)
        return {
            item["metadata"]["uid"]
            for item in listed.get("items") or []
            if (item.get("metadata") or {}).get("uid")
        }


_COLLECTIONS = {
    ("v1", "ConfigMap"): "/api/v1/namespaces/{ns}/configmaps",
    ("v1", "Service"): "/api/v1/namespaces/{ns}/services",
    ("batch/v1", "Job"): "/apis/batch/v1/namespaces/{ns}/jobs",
    (
        "networking.k8s.io/v1",
        "NetworkPolicy",
    ): "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
}


def collection_path(manifest: Mapping[str, Any]) -> str:
    template = _COLLECTIONS[(manifest["apiVersion"], manifest["kind"])]
    return template.format(ns=manifest["metadata"]["namespace"])


def job_path(namespace: str, name: str) -> str:
    return f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}"


def jobs_path(namespace: str) -> str:
    return f"/apis/batch/v1/namespaces/{namespace}/jobs"


def pods_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def finetunejobs_path(namespace: str) -> str:
    return f"/apis/{API_VERSION}/namespaces/{namespace}/{PLURAL}"


def finetunejob_path(namespace: str, name: str, *, status: bool = False) -> str:
    path = f"/apis/{API_VERSION}/namespaces/{namespace}/{PLURAL}/{name}"
    return path + "/status" if status else path
