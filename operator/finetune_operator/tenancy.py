"""What a tenant's spec may ask of the cluster: the storage checks the operator makes before it
creates any pod for a job. Pure.

Credentials: a job without ``spec.storage.secretRef`` would reach S3 with whatever identity the
node has (an instance profile, workload identity), which is the cluster's, not the tenant's; with
``--require-secret-ref`` such a job is refused. Endpoints: ``spec.storage.endpoint`` decides where
the pods send the tenant's credentials and fetch the model and data from, so it is limited to the
operator's default endpoint and the ``--allowed-s3-endpoint`` list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from finetune_api.jobspec import Storage
from finetune_api.reasons import PolicyReason

ANY_ENDPOINT = "*"
"""An --allowed-s3-endpoint entry that allows every endpoint."""
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Refusal:
    """Why the job may not run here, as its Failed condition says it."""

    reason: PolicyReason
    message: str


def normalise_endpoint(url: str) -> str:
    """``url`` in the form endpoints are compared in: scheme and host lower-cased, a default
    port and trailing slashes dropped (``HTTP://S3.example.com:80/`` is
    ``http://s3.example.com``). A URL that does not parse stays as written (and matches only
    itself)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def endpoint_allowed(endpoint: str, default: str, allowed: Sequence[str]) -> bool:
    """Whether a job may set ``spec.storage.endpoint`` to ``endpoint``: empty (the operator's
    default applies), the default itself, an entry of ``allowed``, or anything with ``*``."""
    if not endpoint or ANY_ENDPOINT in allowed:
        return True
    wanted = normalise_endpoint(endpoint)
    return any(normalise_endpoint(entry) == wanted for entry in (default, *allowed) if entry)


def storage_refusal(
    storage: Storage,
    *,
    require_secret_ref: bool,
    default_endpoint: str,
    allowed_endpoints: Sequence[str],
) -> Refusal | None:
    """Why ``spec.storage`` may not run on this operator, or None when it may."""
    if require_secret_ref and storage.secret_ref is None:
        return Refusal(
            PolicyReason.SECRET_REF_REQUIRED,
            "spec.storage.secretRef is required: this operator runs with requireSecretRef "
            "(--require-secret-ref), so pods never reach S3 with the node's cloud identity; "
            "name a Secret holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )
    if not endpoint_allowed(storage.endpoint, default_endpoint, allowed_endpoints):
        listed = [e for e in (default_endpoint, *allowed_endpoints) if e]
        return Refusal(
            PolicyReason.ENDPOINT_NOT_ALLOWED,
            f"spec.storage.endpoint {storage.endpoint} is not allowed: leave it empty for the "
            f"operator's default ({default_endpoint or 'AWS S3'}) or use one of the chart's "
            f"allowedS3Endpoints (--allowed-s3-endpoint): {', '.join(listed) or 'none'}",
        )
    return None
