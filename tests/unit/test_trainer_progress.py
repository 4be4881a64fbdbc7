"""The progress channel: GET /progress serves the latest JSON; unknown fields stay absent."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from finetune_trainer.progress import Progress


def test_serves_latest_state() -> None:
    progress = Progress()
    port = progress.serve(host="127.0.0.1", port=0)
    try:
        progress.update(stage="training", step=3, totalSteps=10, loss=1.5, evalLoss=None)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/progress", timeout=5) as reply:
            body = json.loads(reply.read())
        assert body["stage"] == "training"
        assert (body["step"], body["totalSteps"], body["loss"]) == (3, 10, 1.5)
        assert "evalLoss" not in body
        assert body["updatedAt"].endswith("Z")
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)
        assert missing.value.code == 404
    finally:
        progress.close()
