"""Building blocks of the spec models: the base model and the field types several parts share."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic.alias_generators import to_camel

LOCAL_URIS = "allowLocalUris"
"""Validation context key: when true, ``file:///absolute/path`` URIs are accepted besides S3.

Only ``kubectl finetune run --local`` sets it (``parse_job(document, local=True)``): the job
runs on the user's own machine, whose files are the user's. The CRD's pattern stays S3-only,
and the operator and the trainer in a pod parse without it, so a job on a cluster can never
make a pod read or write its node's filesystem."""
LOCAL_URI_PATTERN = re.compile(r"^file:///[^\s]*$")


def _local_uri_if_allowed(
    value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> Any:
    if (
        isinstance(value, str)
        and info.context
        and info.context.get(LOCAL_URIS)
        and LOCAL_URI_PATTERN.match(value)
        and len(value) <= 1024
    ):
        return value
    return handler(value)


S3_URI = Annotated[
    str,
    StringConstraints(max_length=1024, pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$"),
    WrapValidator(_local_uri_if_allowed),
]
"""An S3 URI with a valid bucket name (or a ``file://`` URI under ``LOCAL_URIS``)."""
HF_URI_PATTERN = (
    r"^hf://[A-Za-z0-9_]+([.\-][A-Za-z0-9_]+)*/[A-Za-z0-9_]+([.\-][A-Za-z0-9_]+)*"
    r"(@[A-Za-z0-9_\-]+([./][A-Za-z0-9_\-]+)*)?$"
)
"""``hf://org/name`` or ``hf://org/name@revision`` (a branch, tag or commit sha): a model on the
Hugging Face Hub. The parts allow no ``..`` and no leading or trailing dot or slash, so neither
the repo id nor the revision can name a path outside the download dir."""
MODEL_URI = Annotated[
    str,
    StringConstraints(
        max_length=1024, pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$|" + HF_URI_PATTERN
    ),
    WrapValidator(_local_uri_if_allowed),
]
"""Where the base model comes from: an S3 prefix or a Hub repo (or ``file://`` under
``LOCAL_URIS``)."""
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
LABEL_VALUE = Annotated[
    str,
    StringConstraints(max_length=63, pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"),
]
"""A Kubernetes label value, as the apiserver checks nodeSelector values and toleration values."""


class Model(BaseModel):
    """Base for every spec model: camelCase on the wire, frozen, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )


class SecretRef(Model):
    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN)
