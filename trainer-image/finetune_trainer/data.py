"""Dataset checks: stream a JSONL file, name every bad line, and write the clean examples.

Formats (``spec.dataset.format``):
- ``chat``: ``{"messages": [{"role": "system|user|assistant", "content": "..."}, ...]}``
  with at least one non-empty assistant turn;
- ``prompt-completion``: ``{"prompt": "...", "completion": "..."}`` (completion non-empty);
- ``text``: ``{"text": "..."}`` (non-empty);
- ``auto``: the format of the first example; every later line must match it.

Only the fields of the format are kept, so stray columns cannot upset the Arrow schema, plus
``expected`` where a record has it: a list of non-empty strings that a correct answer states
(graded by ``answers``; training drops the column).
The checks are pure (no tokenizer); ``validate.py`` counts tokens.

Hostile input is a bad line like any other, never a crash or a retry: a line longer than the
cap is skipped unread (a multi-gigabyte line would otherwise be held in memory whole), JSON
nested deeper than the parser's recursion limit, numbers too long to convert, and strings with
an unpaired surrogate (valid JSON escapes, but not encodable as UTF-8) are each named by line.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from finetune_trainer.errors import InvalidDataset

Format = Literal["chat", "prompt-completion", "text"]
ROLES = ("system", "user", "assistant")
MAX_REPORTED = 20
"""Problems named in the error message; the rest are only counted (the message stays short)."""
MAX_LINE_BYTES = 64 * 2**20
"""The longest line read; a longer one is a bad line (``FINETUNE_MAX_LINE_BYTES`` overrides)."""
SKIP_CHUNK = 2**20
"""An over-long line is skipped in reads of this size, so it is never held whole."""
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass
class DatasetCheck:
    """The outcome of streaming one file."""

    name: str
    format: Format | None = None
    examples: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    def add(self, line: int, reason: str, shard: str | None = None) -> None:
        """Record a bad line; ``shard`` names the file it is in when the dataset has several."""
        self.problem_count += 1
        if len(self.problems) < MAX_REPORTED:
            where = f"{shard} line {line}" if shard else f"line {line}"
            self.problems.append(f"{where}: {reason}")

    def raise_if_bad(self) -> None:
        if self.problem_count:
            more = self.problem_count - len(self.problems)
            tail = f"; and {more} more" if more else ""
            raise InvalidDataset(
                f"{self.name}: {self.problem_count} bad line(s): " + "; ".join(self.problems) + tail
            )
        if not self.examples:
            raise InvalidDataset(f"{self.name}: the dataset is empty")


def detect_format(record: dict[str, Any]) -> Format | None:
    if "messages" in record:
        return "chat"
    if "prompt" in record or "completion" in record:
        return "prompt-completion"
    if "text" in record:
        return "text"
    return None


def _require_str(record: dict[str, Any], name: str) -> str:
    if name not in record:
        raise ValueError(f"missing field '{name}'")
    value = record[name]
    if not isinstance(value, str):
        raise ValueError(f"field '{name}' must be a string, got {type(value).__name__}")
    surrogate = _SURROGATE.search(value)
    if surrogate:
        raise ValueError(
            f"field '{name}' holds an unpaired surrogate (\\u{ord(surrogate.group()):04x} at "
            f"character {surrogate.start()}); it cannot be encoded as UTF-8"
        )
    return value


def _expected(record: dict[str, Any], fmt: Format) -> dict[str, list[str]]:
    """``{"expected": [...]}`` when the record lists the strings a right answer states."""
    if "expected" not in record:
        return {}
    value = record["expected"]
    if fmt == "text":
        raise ValueError("field 'expected' needs a prompt to answer; 'text' examples have none")
    if not isinstance(value, list) or not value:
        raise ValueError("field 'expected' must be a non-empty list of strings")
    for i, item in enumerate(value, start=1):
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"field 'expected': item {i} must be a non-empty string")
    return {"expected": value}


def normalise(record: dict[str, Any], fmt: Format) -> dict[str, Any]:
    """The example reduced to its format's fields (and ``expected``); raises ValueError."""
    return _format_fields(record, fmt) | _expected(record, fmt)


def _format_fields(record: dict[str, Any], fmt: Format) -> dict[str, Any]:
    if fmt == "text":
        text = _require_str(record, "text")
        if not text.strip():
            raise ValueError("empty example (empty 'text')")
        return {"text": text}
    if fmt == "prompt-completion":
        prompt = _require_str(record, "prompt")
        completion = _require_str(record, "completion")
        if not completion.strip():
            raise ValueError("empty example (empty 'completion')")
        return {"prompt": prompt, "completion": completion}
    if "messages" not in record:
        raise ValueError("missing field 'messages'")
    messages = record["messages"]
    if not isinstance(messages, list):
        raise ValueError("field 'messages' must be a list")
    if not messages:
        raise ValueError("empty example (no messages)")
    clean = []
    for i, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            raise ValueError(f"message {i} is not an object")
        role = message.get("role")
        if role is None:
            raise ValueError(f"message {i}: missing field 'role'")
        if role not in ROLES:
            raise ValueError(
                f"message {i}: unknown role {reprlib.repr(role)} (expected {', '.join(ROLES)})"
            )
        try:
            content = _require_str(message, "content")
        except ValueError as exc:
            raise ValueError(f"message {i}: {exc}") from None
        clean.append({"role": role, "content": content})
    assistant = [m["content"] for m in clean if m["role"] == "assistant"]
    if not assistant:
        raise ValueError("no assistant turn")
    if not any(c.strip() for c in assistant):
        raise ValueError("empty example (every assistant turn is empty)")
    return {"messages": clean}


def _lines(fh: IO[bytes], max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for each line; None for a line longer than max_bytes, which is
    skipped in chunks instead of being read whole."""
    number = 0
    while raw := fh.readline(max_bytes + 1):
        number += 1
        if raw.endswith(b"\n") or len(raw) <= max_bytes:  # the whole line fits
            yield number, raw
            continue
        while (rest := fh.readline(SKIP_CHUNK)) and not rest.endswith(b"\n"):
            pass
        yield number, None


def _parse(raw: bytes) -> dict[str, Any] | str | None:
    """The line's JSON object, None for a blank line, or the reason it is bad."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte {exc.start})"
    if not text.strip():
        return None  # blank lines (e.g. a trailing newline) are not examples
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"bad JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return "bad JSON (nested too deeply)"
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        return f"bad JSON ({exc})"
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    return record


def _records(
    path: Path, check: DatasetCheck, max_line_bytes: int, shard: str | None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each parseable line; problems go into check."""
    with open(path, "rb") as fh:
        for number, raw in _lines(fh, max_line_bytes):
            if raw is None:
                check.add(
                    number, f"longer than {max_line_bytes} bytes (the line cap); not read", shard
                )
                continue
            parsed = _parse(raw)
            if isinstance(parsed, str):
                check.add(number, parsed, shard)
            elif parsed is not None:
                yield number, parsed


def check_file(
    path: Path,
    name: str,
    fmt: str,
    out: Path | None = None,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> DatasetCheck:
    """Stream path, check each line, and (when out is given) write the clean examples as JSONL.

    fmt is the spec's format; "auto" takes the first example's. Nothing is loaded whole, and no
    line longer than max_line_bytes is read.
    """
    return check_shards([(path, name)], name, fmt, out, max_line_bytes=max_line_bytes)


def check_shards(
    shards: Sequence[tuple[Path, str]],
    name: str,
    fmt: str,
    out: Path | None = None,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    name_shards: bool = False,
) -> DatasetCheck:
    """``check_file`` over several files (path, source name) in order, as one dataset: one
    format for all (``auto`` takes the first example's), one clean output. With name_shards,
    each problem names its shard besides its line."""
    check = DatasetCheck(name=name, format=None if fmt == "auto" else fmt)  # type: ignore[arg-type]
    with ExitStack() as stack:
        sink = stack.enter_context(open(out, "w", encoding="utf-8")) if out is not None else None
        for path, source in shards:
            shard = source if name_shards else None
            for number, record in _records(path, check, max_line_bytes, shard):
                if check.format is None:
                    check.format = detect_format(record)
                    if check.format is None:
                        check.add(
                            number,
                            "missing field: expected 'messages', 'prompt' and 'completion', "
                            "or 'text'",
                            shard,
                        )
                        continue
                try:
                    example = normalise(record, check.format)
                except ValueError as exc:
                    check.add(number, str(exc), shard)
                    continue
                check.examples += 1
                if sink is not None:
                    sink.write(json.dumps(example, ensure_ascii=False) + "\n")
    return check
