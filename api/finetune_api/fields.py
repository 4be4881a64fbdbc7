"""Building blocks of the spec models: the base model and the field types several parts share."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

S3_URI = Annotated[
    str,
    StringConstraints(max_length=1024, pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$"),
]
"""An S3 URI with a valid bucket name."""
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
