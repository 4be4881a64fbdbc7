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

import torch
from tests.trainer.tiny import train_tokenizer, write_jsonl
from transformers import LlamaConfig, LlamaForCausalLM

__all__ = ["build_smollm2_shaped", "chat_examples", "write_jsonl"]

SMOLLM2_135M: dict[str, Any] = {
    "hidden_size": 576,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "intermediate_size": 1536,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
}
"""The shape of SmolLM2-135M (its config.json), for a random stand-in when the demo's converted
weights are not on this machine: the same compute per token, not the same losses."""

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


def build_smollm2_shaped(out: Path, *, max_positions: int, seed: int) -> None:
    """A random Llama of SmolLM2-135M's shape beside the synthetic tokenizer (whose few hundred
    ids fit in the model's 49,152-entry vocabulary)."""
    corpus = [json.dumps(e) for e in chat_examples(200, max_words=64, seed=0)]
    tokenizer = train_tokenizer(out, corpus, vocab_size=600)
    torch.manual_seed(seed)
    config = LlamaConfig(
        **SMOLLM2_135M,
        max_position_embeddings=max_positions,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)
