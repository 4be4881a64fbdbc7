"""Dataset lines for tests: one example per format, and malformed files with what is wrong."""

from __future__ import annotations

import json

CHAT = json.dumps(
    {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
)
PC = json.dumps({"prompt": "2+2=", "completion": "4"})
TEXT = json.dumps({"text": "some text"})

# (case id, format, file bytes, line named, words in the reason)
MALFORMED: list[tuple[str, str, bytes, int, str]] = [
    ("bad-json", "auto", f"{CHAT}\n{{not json\n".encode(), 2, "bad JSON"),
    ("truncated-json", "chat", f"{CHAT}\n{CHAT}\n{CHAT[:-3]}\n".encode(), 3, "bad JSON"),
    ("not-object", "auto", f"{CHAT}\n[1, 2]\n".encode(), 2, "expected a JSON object"),
    ("non-utf8", "auto", f"{CHAT}\n".encode() + b'{"text": "caf\xe9"}\n', 2, "not valid UTF-8"),
    (
        "unknown-role",
        "chat",
        json.dumps(
            {"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]}
        ).encode(),
        1,
        "unknown role 'bot'",
    ),
    (
        "missing-role",
        "chat",
        f"{CHAT}\n".encode() + json.dumps({"messages": [{"content": "x"}]}).encode(),
        2,
        "missing field 'role'",
    ),
    (
        "missing-content",
        "chat",
        json.dumps(
            {"messages": [{"role": "user"}, {"role": "assistant", "content": "y"}]}
        ).encode(),
        1,
        "missing field 'content'",
    ),
    (
        "content-not-string",
        "chat",
        json.dumps(
            {"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "y"}]}
        ).encode(),
        1,
        "must be a string",
    ),
    (
        "no-assistant",
        "chat",
        f"{CHAT}\n{CHAT}\n".encode()
        + json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(),
        3,
        "no assistant turn",
    ),
    ("empty-messages", "auto", f'{CHAT}\n{{"messages": []}}\n'.encode(), 2, "empty example"),
    (
        "empty-assistant",
        "chat",
        json.dumps(
            {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "  "}]}
        ).encode(),
        1,
        "empty example",
    ),
    ("messages-not-list", "chat", b'{"messages": "hi"}\n', 1, "must be a list"),
    ("missing-messages", "chat", f"{CHAT}\n{TEXT}\n".encode(), 2, "missing field 'messages'"),
    (
        "missing-completion",
        "prompt-completion",
        f'{PC}\n{{"prompt": "x"}}\n'.encode(),
        2,
        "missing field 'completion'",
    ),
    (
        "empty-completion",
        "auto",
        f'{PC}\n{{"prompt": "x", "completion": ""}}\n'.encode(),
        2,
        "empty example",
    ),
    ("empty-text", "text", f'{TEXT}\n\n{{"text": ""}}\n'.encode(), 3, "empty example"),
    ("text-not-string", "auto", f'{TEXT}\n{{"text": 5}}\n'.encode(), 2, "must be a string"),
    ("unknown-shape", "auto", b'{"input": "x", "output": "y"}\n', 1, "missing field"),
    ("format-switch", "auto", f"{PC}\n{CHAT}\n".encode(), 2, "missing field 'prompt'"),
    (
        "expected-not-list",
        "auto",
        f'{PC}\n{PC[:-1]}, "expected": "4"}}\n'.encode(),
        2,
        "field 'expected' must be a non-empty list of strings",
    ),
    ("expected-empty", "auto", f'{PC[:-1]}, "expected": []}}\n'.encode(), 1, "non-empty list"),
    (
        "expected-blank-item",
        "chat",
        f'{CHAT}\n{CHAT}\n{CHAT[:-1]}, "expected": ["hello", " "]}}\n'.encode(),
        3,
        "field 'expected': item 2 must be a non-empty string",
    ),
    (
        "expected-not-string",
        "auto",
        f'{PC[:-1]}, "expected": [4]}}\n'.encode(),
        1,
        "item 1 must be a non-empty string",
    ),
    ("expected-text", "text", f'{TEXT[:-1]}, "expected": ["x"]}}\n'.encode(), 1, "needs a prompt"),
    # Hostile lines: each once crashed the validator (exit 1, retried) instead of naming a line.
    (
        "lone-surrogate",
        "auto",
        f'{TEXT}\n{{"text": "a\\ud800b"}}\n'.encode(),
        2,
        "unpaired surrogate (\\ud800",
    ),
    (
        "surrogate-in-chat",
        "chat",
        f"{CHAT}\n".encode()
        + b'{"messages": [{"role": "user", "content": "x"}, '
        + b'{"role": "assistant", "content": "\\udfff"}]}\n',
        2,
        "message 2: field 'content' holds an unpaired surrogate",
    ),
    (
        "deep-nesting",
        "auto",
        f"{TEXT}\n".encode() + b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        2,
        "nested too deeply",
    ),
    ("huge-integer", "auto", f'{TEXT}\n{{"text": {"9" * 5000}}}\n'.encode(), 2, "bad JSON"),
]

LONG_LINE_CAP = 1024
"""The line cap tests set (``FINETUNE_MAX_LINE_BYTES``), so an over-long line costs 1 KiB."""
LONG_LINE = (
    f"{TEXT}\n".encode()
    + json.dumps({"text": "x" * LONG_LINE_CAP}).encode()
    + f"\n{TEXT}\n".encode()
)
"""Line 2 is just over ``LONG_LINE_CAP``; lines 1 and 3 are fine."""
