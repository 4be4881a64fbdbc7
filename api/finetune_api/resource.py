"""Where the FineTuneJob lives in the Kubernetes API (crds/finetunejob.yaml declares the same)."""

from __future__ import annotations

from typing import Final

GROUP: Final = "finetune.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "FineTuneJob"
PLURAL: Final = "finetunejobs"
