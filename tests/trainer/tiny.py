"""A tiny causal LM and tokenizer built offline, plus a synthetic chat dataset the model can learn.

The tokenizer is a byte-level BPE trained here on the dataset's own words, with a ChatML template
whose ``{% generation %}`` markers let TRL mask everything but assistant turns.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

WORDS = [
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
]
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}{{- '\n' }}"
    "{%- else %}{{- message['content'] + '<|im_end|>\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)


def chat_examples(n: int, seed: int) -> list[dict[str, Any]]:
    """'echo: a b c' → 'c b a': learnable by a 2-layer model in a few dozen steps."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = rng.sample(WORDS, rng.randint(2, 5))
        out.append(
            {
                "messages": [
                    {"role": "system", "content": "You reverse words."},
                    {"role": "user", "content": "reverse: " + " ".join(words)},
                    {"role": "assistant", "content": " ".join(reversed(words))},
                ]
            }
        )
    return out


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def train_tokenizer(out: Path, corpus: list[str], vocab_size: int) -> Any:
    """A byte-level BPE trained on ``corpus``, with the ChatML template, saved under ``out``."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=["<|im_start|>", "<|im_end|>", "<pad>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<pad>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    return tokenizer


def build_llama(
    out: Path,
    tokenizer: Any,
    *,
    layers: int,
    hidden: int,
    intermediate: int,
    kv_heads: int,
    max_positions: int,
    seed: int,
) -> None:
    """A random Llama (4 attention heads) for ``tokenizer``, saved as safetensors under ``out``."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    model.save_pretrained(out, safe_serialization=True)


def build_tokenizer(out: Path) -> Any:
    """The tiny model's tokenizer, trained on this module's own chats."""
    corpus = [json.dumps(e) for e in chat_examples(200, 0)] + [
        "reverse You words system user assistant"
    ]
    return train_tokenizer(out, corpus, vocab_size=400)


def build_model(out: Path) -> Path:
    """Random Llama (hidden 64, 2 layers) saved as safetensors with its tokenizer."""
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(out)
    build_llama(
        out, tokenizer, layers=2, hidden=64, intermediate=128, kv_heads=2, max_positions=256, seed=0
    )
    return out
