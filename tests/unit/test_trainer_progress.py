"""The progress channel: GET /progress serves the latest report; unknown fields stay absent."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from finetune_api.reports import ProgressReport, Stage
from finetune_trainer.progress_server import ProgressServer


def test_serves_latest_report() -> None:
    progress = ProgressServer()
    port = progress.serve(host="127.0.0.1", port=0)
    try:
        progress.update(stage=Stage.TRAINING, step=3, total_steps=10, loss=1.5, eval_loss=None)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/progress", timeout=5) as reply:
            body = json.loads(reply.read())
        assert body["stage"] == "training"
        assert (body["step"], body["totalSteps"], body["loss"]) == (3, 10, 1.5)
        assert "evalLoss" not in body
        assert body["updatedAt"].endswith("Z")
        assert ProgressReport.model_validate(body) == progress.snapshot()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)
        assert missing.value.code == 404
    finally:
        progress.close()
