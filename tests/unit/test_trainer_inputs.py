"""Which model objects are fetched: safetensors and side files only; pickle-only models refused."""

from __future__ import annotations

import pytest

from finetune_trainer.errors import InvalidModel
from finetune_trainer.inputs import select_model_files
from finetune_trainer.storage import UnsafeKey
from finetune_trainer.uris import ObjectInfo, ObjectUri

URI = ObjectUri.parse("s3://models/base/")


def objects(*names: str) -> list[ObjectInfo]:
    return [ObjectInfo(URI.prefix + n, n, 1) for n in names]


def test_weights_and_side_files_only() -> None:
    listing = objects(
        "config.json",
        "model.safetensors",
        "pytorch_model.bin",
        "tokenizer.json",
        "chat_template.jinja",
        "model.gguf",
        "onnx/model.onnx",
    )
    chosen = {o.relative for o in select_model_files(URI, listing, weights=True)}
    assert chosen == {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"}
    no_weights = {o.relative for o in select_model_files(URI, listing, weights=False)}
    assert no_weights == chosen - {"model.safetensors"}


@pytest.mark.parametrize(
    ("names", "words"),
    [
        (("config.json", "pytorch_model.bin"), "only pickle weights"),
        (("config.json", "model.pt", "tokenizer.json"), "only pickle weights"),
        (("config.json", "tokenizer.json"), "no \\*.safetensors"),
        (("model.safetensors",), "no config.json"),
        ((), "no objects"),
    ],
)
def test_refused(names: tuple[str, ...], words: str) -> None:
    with pytest.raises(InvalidModel, match=words):
        select_model_files(URI, objects(*names), weights=True)


def test_escaping_key_refused_even_if_not_selected() -> None:
    with pytest.raises(UnsafeKey):
        select_model_files(URI, objects("config.json", "model.safetensors", "x/../../y.txt"), True)
