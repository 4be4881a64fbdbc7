"""What the node agent registers and how it turns images into commands."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devcluster.settings import ENV_PREFIX, Settings

DEFAULT_IMAGE_MAP = {
    "finetune-trainer": ["python", "-m", "finetune_trainer"],
    "finetune-operator": ["python", "-m", "finetune_operator"],
}
"""Image repository suffix → entry point, used when a container has no ``command``."""

IMAGE_MAP_FILE = "image-map.json"
"""Entries added while the agent runs (``Cluster.map_image``), under the state directory."""

DEFAULT_PASS_ENV = ("LANG", "LC_ALL", "TZ", "HF_HOME", "HF_HUB_OFFLINE", "CUDA_VISIBLE_DEVICES")
"""Host variables handed to every pod (locale, model caches, the GPU a device machine has)."""


@dataclass(frozen=True)
class AgentConfig:
    """Settings of one node agent process."""

    settings: Settings
    node_names: tuple[str, ...]
    capacity: dict[str, str]
    image_map: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_IMAGE_MAP))
    pass_env: tuple[str, ...] = DEFAULT_PASS_ENV
    poll_interval: float = 0.5
    """Seconds between pod list calls; polling keeps the agent simple and never misses events."""

    @classmethod
    def from_settings(cls, settings: Settings) -> AgentConfig:
        image_map = dict(DEFAULT_IMAGE_MAP)
        image_map.update(json.loads(os.environ.get(ENV_PREFIX + "IMAGE_MAP", "{}")))
        return cls(
            settings=settings,
            node_names=tuple(f"nodeagent-{i}" for i in range(settings.nodes)),
            capacity={
                "cpu": "16",
                "memory": "64Gi",
                "pods": "110",
                "ephemeral-storage": "100Gi",
                "nvidia.com/gpu": str(settings.gpus_per_node),
            },
            image_map=image_map,
        )

    def current_image_map(self) -> dict[str, list[str]]:
        """The start-up map plus entries published since; read at each container start."""
        published = self.settings.state / IMAGE_MAP_FILE
        extra = json.loads(published.read_text()) if published.exists() else {}
        return {**self.image_map, **extra}

    @property
    def torch_extensions_dir(self) -> Path:
        """DeepSpeed op cache shared by all pods: stands in for ops prebuilt into the image.

        Kept apart from the host's cache: pods build with another environment (PATH, HOME), so
        a shared directory would be rebuilt each time the other side starts (40-80 s each)."""
        return self.settings.cache / "torch_extensions" / "pods"


def publish_image_entries(settings: Settings, entries: Mapping[str, list[str]]) -> None:
    """Add image → entry point mappings that a running agent picks up for new containers."""
    published = settings.state / IMAGE_MAP_FILE
    current = json.loads(published.read_text()) if published.exists() else {}
    current.update(entries)
    tmp = published.with_suffix(".tmp")
    tmp.write_text(json.dumps(current, indent=2))
    tmp.replace(published)  # atomic: the agent never reads half a file
