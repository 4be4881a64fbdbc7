"""Fetch and check the run's inputs: the base model (safetensors only) and the dataset files.

Shared by ``validate`` (tokenizer and config only, no weights: it runs on a CPU-only pod) and
``train``. The model comes from an S3 prefix or from the Hugging Face Hub (``hub.py``), chosen by
the same rules; the dataset is one S3 object or, for a URI ending in ``/``, every ``*.jsonl``
object under that prefix in key order (shards). Every refusal is an InputError naming the
object, the shard or the line. ``prepare`` turns what is fetched here into what TRL takes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from finetune_api.jobspec import FineTuneJobSpec
from finetune_api.reports import COMMIT_SHA, BaseModelRef
from finetune_trainer.config import max_line_bytes
from finetune_trainer.data import DatasetCheck, check_shards
from finetune_trainer.errors import InvalidDataset, InvalidModel
from finetune_trainer.hub import SCHEME as HUB_SCHEME
from finetune_trainer.hub import Hub, HubUri
from finetune_trainer.storage import Storage, check_key
from finetune_trainer.uris import ObjectInfo, ObjectUri

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
"""Weights in these formats can run code when loaded; they are never downloaded."""
SIDE_FILES = (".json", ".txt", ".model", ".jinja", ".tiktoken")
"""Config, generation config, tokenizer and chat-template files."""
SHARD_SUFFIX = ".jsonl"
"""Objects under a dataset prefix that are shards; others (a README, _SUCCESS) are ignored."""

log = logging.getLogger(__name__)


def select_model_files(
    uri: ObjectUri | HubUri, objects: list[ObjectInfo], weights: bool
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


@dataclass(frozen=True)
class ModelSource:
    """Where the base model came from: the spec's URI and, for the Hub, the commit used."""

    uri: str
    revision: str | None = None
    """The commit sha the hf:// revision resolved to; None for an S3 model."""

    def reported(self) -> BaseModelRef | None:
        """What validation tells the operator, which pins training to this commit. None for S3,
        and for a commit not named as the Hub names them (a mirror's own scheme): training then
        resolves the revision itself, and validation does not fail for it."""
        if self.revision and re.match(COMMIT_SHA, self.revision):
            return BaseModelRef(revision=self.revision)
        return None


def fetch_model(storage: Storage, uri_text: str, dest: Path, weights: bool) -> ModelSource:
    """Download the model's config and tokenizer (and weights) into dest and check that loading
    it needs no remote code."""
    if uri_text.startswith(HUB_SCHEME):
        source = _fetch_hub_model(HubUri.parse(uri_text), dest, weights)
    else:
        uri = ObjectUri.parse(uri_text)
        chosen = {o.relative for o in select_model_files(uri, storage.list_objects(uri), weights)}
        storage.download_prefix(uri, dest, include=lambda key: key in chosen)
        source = ModelSource(uri_text)
    check_no_remote_code(dest, uri_text)
    return source


def _fetch_hub_model(uri: HubUri, dest: Path, weights: bool) -> ModelSource:
    hub = Hub()
    snapshot = hub.resolve(uri)
    listing = [ObjectInfo(name, name, 0) for name in snapshot.files]
    chosen = select_model_files(uri, listing, weights)
    # A retry may resolve a branch to a newer commit: no file of the older one may stay behind.
    shutil.rmtree(dest, ignore_errors=True)
    for obj in chosen:
        hub.download(uri, snapshot.commit, obj.relative, dest / obj.relative)
    log.info("baseModel %s: commit %s, %d files", uri, snapshot.commit, len(chosen))
    return ModelSource(f"{HUB_SCHEME}{uri.repo_id}@{uri.revision}", snapshot.commit)


def check_no_remote_code(model_dir: Path, uri: str) -> None:
    """Refuse a model whose config or tokenizer needs code from the repo: the trainer never
    sets trust_remote_code, so transformers would refuse it later with an error that reads
    like a crash (and would be retried). An ``auto_map`` is harmless when transformers has the
    architecture (or the tokenizer class) built in, as many repos keep one for older versions."""
    from transformers import CONFIG_MAPPING  # noqa: PLC0415 (heavy; only once files are here)

    config = _json(model_dir / "config.json")
    if config.get("auto_map") and config.get("model_type") not in CONFIG_MAPPING:
        raise InvalidModel(
            f"baseModel {uri}: config.json asks for the repo's own code (auto_map, model_type "
            f"{config.get('model_type')!r} is not built into transformers); remote code is "
            "never run (trust_remote_code is off). Use a model transformers supports natively."
        )
    tokenizer = _json(model_dir / "tokenizer_config.json")
    tokenizer_class = str(tokenizer.get("tokenizer_class") or "")
    if tokenizer.get("auto_map") and not _transformers_has(tokenizer_class):
        raise InvalidModel(
            f"baseModel {uri}: tokenizer_config.json asks for the repo's own tokenizer code "
            f"(auto_map, tokenizer_class {tokenizer_class!r}); remote code is never run "
            "(trust_remote_code is off)."
        )


def _json(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidModel(f"baseModel: {path.name} is not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise InvalidModel(f"baseModel: {path.name} is not a JSON object")
    return document


def _transformers_has(class_name: str) -> bool:
    import transformers  # noqa: PLC0415 (heavy)

    return bool(class_name) and hasattr(transformers, class_name.removesuffix("Fast"))


@dataclass
class DatasetFiles:
    """Clean JSONL files (only the format's fields) and what the checks found; ``raw_*`` map
    each source object's URI (one, or each shard) to its downloaded copy, for the provenance."""

    format: str
    train: str
    train_examples: int
    raw_train: dict[str, str]
    eval: str | None = None
    eval_examples: int = 0
    raw_eval: dict[str, str] | None = None


def _fetch_objects(storage: Storage, uri_text: str, dest: Path) -> dict[str, Path]:
    """{source URI: local copy}: the one object, or every shard under a prefix, in key order."""
    uri = ObjectUri.parse(uri_text)
    if not uri_text.endswith("/"):
        if not storage.exists(uri):
            raise InvalidDataset(f"dataset {uri} does not exist")
        return {uri_text: storage.download_file(uri, dest / "data.jsonl")}
    shards = sorted(
        (o for o in storage.list_objects(uri) if o.key.endswith(SHARD_SUFFIX)), key=lambda o: o.key
    )
    if not shards:
        raise InvalidDataset(f"dataset {uri}: no *{SHARD_SUFFIX} objects under this prefix")
    return {
        str(uri.with_key(o.key)): storage.download_file(
            uri.with_key(o.key), dest / f"shard-{i:05d}.jsonl"
        )
        for i, o in enumerate(shards)
    }


def _fetch_checked(
    storage: Storage, uri_text: str, fmt: str, dest: Path, split: str
) -> tuple[DatasetCheck, dict[str, Path]]:
    """Download one split (file or shards), check every line, write ``<split>.jsonl``."""
    raw = _fetch_objects(storage, uri_text, dest / f"{split}.raw")
    shards: Sequence[tuple[Path, str]] = [(path, source) for source, path in raw.items()]
    check = check_shards(
        shards,
        uri_text,
        fmt,
        dest / f"{split}.jsonl",
        max_line_bytes=max_line_bytes(os.environ),
        name_shards=uri_text.endswith("/"),
    )
    check.raise_if_bad()
    return check, raw


def fetch_dataset(storage: Storage, spec: FineTuneJobSpec, dest: Path) -> DatasetFiles:
    """Download, stream-check and clean the train (and eval) data; raise on any bad line."""
    dest.mkdir(parents=True, exist_ok=True)
    train, raw_train = _fetch_checked(
        storage, spec.dataset.train, spec.dataset.format, dest, "train"
    )
    assert train.format is not None  # set by the first valid example
    files = DatasetFiles(
        train.format,
        str(dest / "train.jsonl"),
        train.examples,
        {source: str(path) for source, path in raw_train.items()},
    )
    if spec.dataset.eval:
        evaluation, raw_eval = _fetch_checked(
            storage, spec.dataset.eval, train.format, dest, "eval"
        )
        files.eval, files.eval_examples = str(dest / "eval.jsonl"), evaluation.examples
        files.raw_eval = {source: str(path) for source, path in raw_eval.items()}
    log.info(
        "dataset: format %s, %d train examples from %d object(s), %d eval examples",
        files.format,
        files.train_examples,
        len(files.raw_train),
        files.eval_examples,
    )
    return files
