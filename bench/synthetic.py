"""A random Llama, a byte-level BPE tokenizer and a long-tailed chat dataset, built offline.

The tokenizer and model builders are ``tests/trainer/tiny.py``'s (a ChatML template with
``{% generation %}`` markers, so TRL masks all but assistant turns), sized here for benchmarks:
the model is bigger, and answer lengths follow a Pareto law, so padding to the longest example
in a batch wastes what it does on real data. Everything is seeded.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from tests.trainer.tiny import build_llama, train_tokenizer, write_jsonl

__all__ = ["build_model", "chat_examples", "write_jsonl"]

WORDS = (
    "red",
    "green",
    "blue",
    "cat",
    "dog",
    "fish",
    "one",
    "two",
    "three",
    "sun",
    "moon",
    "star",
    "tree",
    "rock",
    "river",
    "bird",
    "cloud",
    "rain",
    "snow",
    "wind",
    "hill",
    "lake",
    "road",
    "town",
    "bread",
    "milk",
    "salt",
    "iron",
    "gold",
    "silk",
    "rope",
    "lamp",
)


def chat_examples(n: int, *, max_words: int, seed: int) -> list[dict[str, Any]]:
    """Chats whose answers are Pareto-long (shape 1.2, 16 words and up, capped at max_words)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        prompt = rng.choices(WORDS, k=rng.randint(3, 20))
        answer = rng.choices(WORDS, k=min(max_words, int(16 * rng.paretovariate(1.2))))
        out.append(
            {
                "messages": [
                    {"role": "system", "content": "You repeat words."},
                    {"role": "user", "content": "repeat: " + " ".join(prompt)},
                    {"role": "assistant", "content": " ".join(answer)},
                ]
            }
        )
    return out


def build_model(out: Path, *, layers: int, hidden: int, max_positions: int, seed: int) -> None:
    """A random Llama (4 heads, MLP 4 x hidden) saved as safetensors next to its tokenizer."""
    corpus = [json.dumps(e) for e in chat_examples(200, max_words=64, seed=0)]
    tokenizer = train_tokenizer(out, corpus, vocab_size=600)
    build_llama(
        out,
        tokenizer,
        layers=layers,
        hidden=hidden,
        intermediate=4 * hidden,
        kv_heads=4,
        max_positions=max_positions,
        seed=seed,
    )
