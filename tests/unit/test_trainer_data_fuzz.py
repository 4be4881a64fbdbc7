"""Fuzzing the dataset validator: whatever the bytes, the only failure is InvalidDataset naming
a line (or an empty dataset), and what it accepts is written as clean UTF-8 JSONL."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from finetune_trainer.data import check_file
from finetune_trainer.errors import InvalidDataset

# Surrogates included: JSON escapes them (\ud800) and they once crashed the writer.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=20)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=10,
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "bot"]) | JSON_VALUES},
    optional={"content": ANY_TEXT | JSON_VALUES},
)
RECORDS = st.one_of(
    st.fixed_dictionaries({"text": ANY_TEXT | JSON_VALUES}),
    st.fixed_dictionaries({"prompt": ANY_TEXT, "completion": ANY_TEXT | JSON_VALUES}),
    st.fixed_dictionaries({"messages": st.lists(MESSAGE, max_size=4) | JSON_VALUES}),
    JSON_VALUES,
)
LINES = st.one_of(
    RECORDS.map(lambda r: json.dumps(r).encode()),
    RECORDS.map(lambda r: json.dumps(r).encode()[:-1]),  # cut short
    st.binary(max_size=80),
)
NAMED = re.compile(r": \d+ bad line\(s\): line \d+: |: the dataset is empty$")


def check(content: bytes, fmt: str) -> tuple[Any, list[str] | None]:
    """The check's outcome: the error, or None and the written lines."""
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "train.jsonl", Path(tmp) / "out.jsonl"
        path.write_bytes(content)
        result = check_file(path, "train.jsonl", fmt, out, max_line_bytes=64)
        try:
            result.raise_if_bad()
        except InvalidDataset as exc:
            return exc, None
        # JSONL ends a record at "\n" only: str.splitlines() would also split inside a string
        # holding U+0085, U+2028 or U+2029, which JSON allows unescaped.
        text = out.read_bytes().decode("utf-8")
        return None, [line for line in text.split("\n") if line]


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(LINES, max_size=6),
    fmt=st.sampled_from(["auto", "chat", "prompt-completion", "text"]),
)
@example(lines=[b'{"text": "0\\u0085"}'], fmt="auto")  # a NEL inside a string (CI, session 15)
def test_only_invalid_dataset_naming_a_line_comes_out(lines: list[bytes], fmt: str) -> None:
    error, written = check(b"\n".join(lines), fmt)
    if error is not None:
        assert error.exit_code == 3
        assert NAMED.search(error.message), error.message
        return
    assert written is not None
    for line in written:
        json.loads(line)
