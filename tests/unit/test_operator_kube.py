"""The apiserver client's create-if-absent: a 409 makes a child ours only when the object that
holds the name has the same controlling owner."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import kopf
import pytest

from finetune_operator.kube import ApiError, ForeignChild, KubeClient

MANIFEST = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {
        "name": "demo-validate",
        "namespace": "team-a",
        "ownerReferences": [{"uid": "u-new", "controller": True}],
    },
}


class Apiserver(KubeClient):
    """Answers POST with 409 and GET with an existing object owned by ``existing_owner``."""

    def __init__(self, existing_owner: str | None) -> None:
        super().__init__(kopf.OperatorSettings())
        self.existing_owner = existing_owner
        self.requests: list[tuple[str, str]] = []

    async def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        self.requests.append((method, path))
        if self.existing_owner is None:
            return {}
        if method == "POST":
            raise ApiError(409, "already exists")
        refs = [{"uid": self.existing_owner, "controller": True}] if self.existing_owner else []
        return {"metadata": {"name": "demo-validate", "ownerReferences": refs}}


def test_created() -> None:
    assert asyncio.run(Apiserver(None).create(MANIFEST)) is True


def test_already_there_with_the_same_owner_is_ours() -> None:
    client = Apiserver("u-new")
    assert asyncio.run(client.create(MANIFEST)) is False
    assert client.requests[-1] == ("GET", "/apis/batch/v1/namespaces/team-a/jobs/demo-validate")


@pytest.mark.parametrize("owner", ["u-old", ""], ids=["earlier-owner", "orphan"])
def test_already_there_with_another_owner_is_not_adopted(owner: str) -> None:
    with pytest.raises(ForeignChild, match="demo-validate"):
        asyncio.run(Apiserver(owner).create(MANIFEST))
