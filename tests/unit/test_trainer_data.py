"""Dataset checks: every malformed line is named as "line N" with its reason (table-driven),
hostile lines included (unpaired surrogates, deep nesting, lines over the cap)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.datasets import CHAT, LONG_LINE, LONG_LINE_CAP, MALFORMED, PC, TEXT

from finetune_trainer.config import MAX_LINE_BYTES_ENV, max_line_bytes
from finetune_trainer.data import MAX_LINE_BYTES, check_file, check_shards
from finetune_trainer.errors import InvalidDataset


@pytest.mark.parametrize(
    ("fmt", "content", "line", "words"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_line_is_named(
    tmp_path: Path, fmt: str, content: bytes, line: int, words: str
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(content)
    check = check_file(path, "train.jsonl", fmt)
    with pytest.raises(InvalidDataset) as err:
        check.raise_if_bad()
    assert f"line {line}: " in err.value.message
    assert words in err.value.message
    assert err.value.exit_code == 3


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_dataset_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(content)
    with pytest.raises(InvalidDataset, match="empty"):
        check_file(path, "train.jsonl", "auto").raise_if_bad()


@pytest.mark.parametrize(
    ("line", "fmt"), [(CHAT, "chat"), (PC, "prompt-completion"), (TEXT, "text")]
)
def test_auto_detects_and_normalises(tmp_path: Path, line: str, fmt: str) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    record = json.loads(line) | {"extra": {"ignored": True}}
    src.write_text(json.dumps(record) + "\n" + line + "\n\n")
    check = check_file(src, "in.jsonl", "auto", out)
    check.raise_if_bad()
    assert (check.format, check.examples) == (fmt, 2)
    written = [json.loads(x) for x in out.read_text().splitlines()]
    assert written == [json.loads(line)] * 2


def test_many_problems_are_counted_but_message_stays_short(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(CHAT + "\n" + "{bad\n" * 500)
    with pytest.raises(InvalidDataset, match="500 bad line") as err:
        check_file(path, "train.jsonl", "auto").raise_if_bad()
    assert "and 480 more" in err.value.message


def test_expected_is_kept_beside_the_format_fields(tmp_path: Path) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    record = json.loads(CHAT) | {"expected": ["hello"], "extra": 1}
    src.write_text(json.dumps(record) + "\n")
    check_file(src, "in.jsonl", "auto", out).raise_if_bad()
    assert json.loads(out.read_text()) == json.loads(CHAT) | {"expected": ["hello"]}


def test_over_long_line_is_named_and_never_read_whole(tmp_path: Path) -> None:
    path, out = tmp_path / "train.jsonl", tmp_path / "out.jsonl"
    path.write_bytes(LONG_LINE)
    check = check_file(path, "train.jsonl", "auto", out, max_line_bytes=LONG_LINE_CAP)
    assert check.examples == 2  # lines 1 and 3: the reader finds the line after the long one
    assert check.problems == [f"line 2: longer than {LONG_LINE_CAP} bytes (the line cap); not read"]
    with pytest.raises(InvalidDataset) as err:
        check.raise_if_bad()
    assert err.value.exit_code == 3


@pytest.mark.parametrize("newline", [b"\n", b""])
def test_line_exactly_at_the_cap_is_read(tmp_path: Path, newline: bytes) -> None:
    line = json.dumps({"text": "x" * 100}).encode()
    path = tmp_path / "train.jsonl"
    path.write_bytes(line + newline)
    check = check_file(path, "train.jsonl", "auto", max_line_bytes=len(line))
    assert (check.examples, check.problems) == (1, [])


@pytest.mark.parametrize(("env", "cap"), [({}, MAX_LINE_BYTES), ({MAX_LINE_BYTES_ENV: "512"}, 512)])
def test_line_cap_from_env(env: dict[str, str], cap: int) -> None:
    assert max_line_bytes(env) == cap


def test_shards_are_one_dataset_and_problems_name_shard_and_line(tmp_path: Path) -> None:
    first, second, out = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "out.jsonl"
    first.write_text(CHAT + "\n" + CHAT + "\n")
    second.write_text(CHAT + "\n" + PC + "\n")  # line 2 is another format than the first's
    shards = [(first, "s3://b/train/part-0.jsonl"), (second, "s3://b/train/part-1.jsonl")]
    check = check_shards(shards, "s3://b/train/", "auto", out, name_shards=True)
    assert (check.format, check.examples) == ("chat", 3)
    with pytest.raises(InvalidDataset, match=r"^s3://b/train/: 1 bad line\(s\): ") as err:
        check.raise_if_bad()
    assert "s3://b/train/part-1.jsonl line 2: " in err.value.message
    assert len(out.read_text().splitlines()) == 3


def test_shards_without_examples_are_an_empty_dataset(tmp_path: Path) -> None:
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n")
    check = check_shards(
        [(blank, "s3://b/t/0.jsonl"), (blank, "s3://b/t/1.jsonl")], "s3://b/t/", "auto"
    )
    with pytest.raises(InvalidDataset, match="s3://b/t/: the dataset is empty"):
        check.raise_if_bad()
