"""Guards that need transformers but no S3: divergence, EOS agreement, final metrics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from tests.trainer.tiny import build_tokenizer
from transformers import (
    AutoTokenizer,
    GenerationConfig,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from finetune_trainer.callbacks import DivergenceGuard
from finetune_trainer.errors import InvalidModel, TrainingDiverged
from finetune_trainer.evaluate import final_metrics
from finetune_trainer.prepare import check_eos


@pytest.mark.parametrize("key", ["loss", "grad_norm", "eval_loss"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_divergence_stops_the_run(key: str, value: float) -> None:
    state = TrainerState()
    state.global_step = 5
    with pytest.raises(TrainingDiverged, match=f"{key} became .* at step 5"):
        DivergenceGuard().on_log(
            TrainingArguments(output_dir="unused", report_to="none"),
            state,
            TrainerControl(),
            logs={key: value},
        )
    assert TrainingDiverged("x").exit_code == 3


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tok")
    build_tokenizer(path)
    return path


@pytest.fixture
def tokenizer(tokenizer_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(tokenizer_dir)


def test_template_without_eos_refused(tokenizer: Any) -> None:
    tokenizer.chat_template = tokenizer.chat_template.replace(
        "+ '<|im_end|>' }}{% endgeneration", "}}{% endgeneration"
    )
    with pytest.raises(InvalidModel, match="not the EOS token"):
        check_eos(tokenizer, GenerationConfig(eos_token_id=tokenizer.eos_token_id), "chat")


def test_generation_config_made_to_stop_on_eos(tokenizer: Any) -> None:
    generation = GenerationConfig(eos_token_id=0)
    check_eos(tokenizer, generation, "chat")
    assert generation.eos_token_id == [0, tokenizer.eos_token_id]
    check_eos(tokenizer, generation, "chat")
    assert generation.eos_token_id == [0, tokenizer.eos_token_id]


def test_chat_data_needs_a_template(tokenizer: Any) -> None:
    bare = tokenizer
    bare.chat_template = None
    with pytest.raises(InvalidModel, match="chat template"):
        check_eos(bare, GenerationConfig(eos_token_id=bare.eos_token_id), "chat")
    check_eos(bare, GenerationConfig(eos_token_id=bare.eos_token_id), "text")


def test_final_metrics() -> None:
    history = [{"base_eval_loss": 3.0, "step": 0}] + [
        {"loss": float(i), "step": i} for i in range(1, 21)
    ]
    metrics = final_metrics(history, {"eval_loss": 1.0, "eval_mean_token_accuracy": 0.5})
    assert metrics == {
        "trainLoss": sum(range(11, 21)) / 10,
        "baseEvalLoss": 3.0,
        "evalLoss": 1.0,
        "evalPerplexity": math.e,
        "evalTokenAccuracy": 0.5,
    }
    assert final_metrics([], None) == {}
