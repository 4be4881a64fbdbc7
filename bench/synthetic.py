"""A random Llama, a byte-level BPE tokenizer and a long-tailed chat dataset, built offline.

The same recipe as ``tests/trainer/tiny.py`` (a ChatML template with ``{% generation %}`` markers,
so TRL masks all but assistant turns), sized for benchmarks: the model is bigger, and answer
lengths follow a Pareto law, so padding to the longest example in a batch wastes what it does on
real data. Everything is seeded.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

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
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}{{- '\n' }}"
    "{%- else %}{{- message['content'] + '<|im_end|>\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
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


def build_tokenizer(out: Path, corpus: list[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: PLC0415
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=600,
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


def build_model(out: Path, *, layers: int, hidden: int, max_positions: int, seed: int) -> None:
    """A random Llama (4 heads, MLP 4 x hidden) saved as safetensors next to its tokenizer."""
    import torch  # noqa: PLC0415
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM  # noqa: PLC0415

    tokenizer = build_tokenizer(
        out, [json.dumps(e) for e in chat_examples(200, max_words=64, seed=0)]
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
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


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path
