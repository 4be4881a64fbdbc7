"""The child watches are filtered by the apiserver: Kopf sends our label selector with them."""

from __future__ import annotations

import kopf
from kopf._cogs.structs.references import Resource

from finetune_operator import handlers, names


def index_resources() -> list[Resource]:
    """The resources of every ``@kopf.index`` the operator registers, as Kopf resolves them."""
    registry = kopf.get_default_registry()
    resources = []
    for handler in registry._indexing.get_all_handlers():
        selector = handler.selector
        assert selector is not None and selector.version
        assert isinstance(selector.any_name, str)
        resources.append(Resource(selector.group or "", selector.version, selector.any_name))
    return resources


def test_every_index_watch_carries_our_label_selector() -> None:
    settings = kopf.OperatorSettings()
    handlers.watch_only_ours(settings)
    resources = index_resources()
    assert {r.plural for r in resources} == {"jobs", "pods"}
    for resource in resources:
        assert settings.watching.label_selectors.collect(resource) == [
            f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
        ]


def test_finetunejobs_and_other_pods_are_not_filtered() -> None:
    settings = kopf.OperatorSettings()
    handlers.watch_only_ours(settings)
    for resource in (
        Resource("finetune.dev", "v1alpha1", "finetunejobs"),
        Resource("metrics.k8s.io", "v1beta1", "pods"),
        Resource("batch", "v1", "cronjobs"),
    ):
        assert settings.watching.label_selectors.collect(resource) == []
