"""Fetch and check the run's inputs: the base model (safetensors only) and the dataset files.

Shared by ``validate`` (tokenizer and config only, no weights: it runs on a CPU-only pod) and
``train``. Every refusal is an InputError naming the object or the line. ``prepare`` turns what
is fetched here into what TRL takes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from finetune_api.jobspec import FineTuneJobSpec
from finetune_trainer.config import max_line_bytes
from finetune_trainer.data import DatasetCheck, check_file
from finetune_trainer.errors import InvalidDataset, InvalidModel
from finetune_trainer.storage import Storage, check_key
from finetune_trainer.uris import ObjectInfo, ObjectUri

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
"""Weights in these formats can run code when loaded; they are never downloaded."""
SIDE_FILES = (".json", ".txt", ".model", ".jinja", ".tiktoken")
"""Config, generation config, tokenizer and chat-template files."""

log = logging.getLogger(__name__)


def select_model_files(
    uri: ObjectUri, objects: list[ObjectInfo], weights: bool
) -> list[ObjectInfo]:
    """The objects to download; refuses unsafe keys, non-HF layouts and pickle-only weights."""
    for obj in objects:
        check_key(obj.relative)
    names = {o.relative for o in objects}
    if not objects:
        raise InvalidModel(f"baseModel {uri}: no objects under this prefix")
    if "config.json" not in names:
        raise InvalidModel(f"baseModel {uri}: no config.json (expected a Hugging Face layout)")
    if not any(n.endswith(".safetensors") for n in names):
        pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES))
        if pickles:
            raise InvalidModel(
                f"baseModel {uri}: only pickle weights ({', '.join(pickles[:3])}); they can run "
                "code when loaded and are refused. Convert the model to safetensors."
            )
        raise InvalidModel(f"baseModel {uri}: no *.safetensors weights")
    return [
        o
        for o in objects
        if o.relative.endswith(SIDE_FILES) or (weights and o.relative.endswith(".safetensors"))
    ]


def fetch_model(storage: Storage, uri_text: str, dest: Path, weights: bool) -> Path:
    uri = ObjectUri.parse(uri_text)
    chosen = {o.relative for o in select_model_files(uri, storage.list_objects(uri), weights)}
    storage.download_prefix(uri, dest, include=lambda key: key in chosen)
    return dest


@dataclass
class DatasetFiles:
    """Clean JSONL files (only the format's fields) and what the checks found."""

    format: str
    train: str
    train_examples: int
    raw_train: str
    eval: str | None = None
    eval_examples: int = 0
    raw_eval: str | None = None


def _fetch_one(storage: Storage, uri_text: str, dest: Path) -> Path:
    uri = ObjectUri.parse(uri_text)
    if not storage.exists(uri):
        raise InvalidDataset(f"dataset {uri} does not exist")
    return storage.download_file(uri, dest)


def fetch_dataset(storage: Storage, spec: FineTuneJobSpec, dest: Path) -> DatasetFiles:
    """Download, stream-check and clean the train (and eval) files; raise on any bad line."""
    dest.mkdir(parents=True, exist_ok=True)
    cap = max_line_bytes(os.environ)
    raw_train = _fetch_one(storage, spec.dataset.train, dest / "train.raw.jsonl")
    train = check_file(
        raw_train, spec.dataset.train, spec.dataset.format, dest / "train.jsonl", max_line_bytes=cap
    )
    train.raise_if_bad()
    assert train.format is not None  # set by the first valid example
    files = DatasetFiles(train.format, str(dest / "train.jsonl"), train.examples, str(raw_train))
    if spec.dataset.eval:
        raw_eval = _fetch_one(storage, spec.dataset.eval, dest / "eval.raw.jsonl")
        evaluation: DatasetCheck = check_file(
            raw_eval, spec.dataset.eval, train.format, dest / "eval.jsonl", max_line_bytes=cap
        )
        evaluation.raise_if_bad()
        files.eval, files.eval_examples, files.raw_eval = (
            str(dest / "eval.jsonl"),
            evaluation.examples,
            str(raw_eval),
        )
    log.info(
        "dataset: format %s, %d train and %d eval examples",
        files.format,
        files.train_examples,
        files.eval_examples,
    )
    return files
