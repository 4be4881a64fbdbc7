"""What a GPU run switches on: precision, attention kernel, padding-free batches, Liger kernels.

``choose`` is a pure function of what the device supports, which optional packages are
installed and the job's spec, so every rule is tested without a GPU; ``probe_device`` and
``installed_packages`` read the real machine once at start-up. A CPU run gets none of these:
fp32, the model's default attention, padded batches.

The rules, and why:
- bf16 where the device computes it (Ampere and later); fp16 otherwise, with fp32 weights
  (mixed precision), since fp16 weights under fp16 AMP cannot unscale their gradients.
- FlashAttention 2 when ``flash_attn`` imports and the device has bf16: its kernels need
  Ampere or later and half-precision inputs, which the fp16 path (fp32 weights) does not give.
  Hub kernels (``kernels-community/...``) are not used: the pods have no Hub access.
- Else, with bf16, PyTorch's flex attention (``flex_attention``, in torch itself): transformers
  gives it a block-causal mask over a packed row, so it skips the blocks between sequences as
  the varlen kernel does. Measured on an H200 (docs/benchmarks.md, GPU): a 1B full fine-tune at
  51% MFU against 14% with SDPA on the same packed rows, whose block-diagonal mask SDPA attends
  densely (17% with padded batches). Else (no bf16: pre-Ampere GPUs, where flex's Triton
  kernels are not tuned) SDPA.
- Padding-free batches (TRL ``padding_free``) with either of those kernels and packing: the
  packed sequences are flattened into one row and the kernel keeps them apart. TRL refuses
  padding-free without packing while ``max_length`` is set, which it always is here.
- Liger kernels (TRL ``use_liger_kernel``) when ``liger_kernel`` is installed: Triton kernels
  for the norms, rotary embedding and SwiGLU, CUDA only.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from typing import Any

from finetune_api.jobspec import FineTuneJobSpec

log = logging.getLogger(__name__)

FLASH_ATTN = "flash_attn"
LIGER_KERNEL = "liger_kernel"
OPTIONAL_PACKAGES = (FLASH_ATTN, LIGER_KERNEL)
"""The import names whose presence changes a choice."""


@dataclass(frozen=True)
class Device:
    """What the training device can do (``probe_device`` reads it from torch)."""

    cuda: bool
    bf16: bool
    name: str


CPU = Device(cuda=False, bf16=False, name="cpu")


@dataclass(frozen=True)
class Acceleration:
    """The choices for one run; ``record`` is what logs and ``metrics.json`` show."""

    device: str
    precision: str  # "bf16" | "fp16" | "fp32"
    attn_implementation: str | None  # None: the model's default (CPU runs)
    padding_free: bool
    liger_kernel: bool

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"

    @property
    def fp16(self) -> bool:
        return self.precision == "fp16"

    def weights_dtype(self) -> str:
        """The dtype the weights load in: bf16 for a bf16 run, fp32 for fp16 AMP and CPU."""
        return "bfloat16" if self.bf16 else "float32"

    def model_options(self) -> dict[str, Any]:
        """Keyword arguments for ``from_pretrained`` besides the dtype."""
        if self.attn_implementation is None:
            return {}
        return {"attn_implementation": self.attn_implementation}

    def sft_options(self) -> dict[str, Any]:
        """Keyword arguments for TRL's ``SFTConfig``."""
        return {
            "bf16": self.bf16,
            "fp16": self.fp16,
            "padding_free": self.padding_free,
            "use_liger_kernel": self.liger_kernel,
        }

    def record(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "precision": self.precision,
            "attnImplementation": self.attn_implementation or "default",
            "paddingFree": self.padding_free,
            "ligerKernel": self.liger_kernel,
        }


def choose(device: Device, installed: frozenset[str], spec: FineTuneJobSpec) -> Acceleration:
    """The choices for this device, these installed packages and this spec (see the module)."""
    if not device.cuda:
        return Acceleration(
            device=device.name,
            precision="fp32",
            attn_implementation=None,
            padding_free=False,
            liger_kernel=False,
        )
    attention = "sdpa"
    if device.bf16:
        attention = "flash_attention_2" if FLASH_ATTN in installed else "flex_attention"
    return Acceleration(
        device=device.name,
        precision="bf16" if device.bf16 else "fp16",
        attn_implementation=attention,
        padding_free=attention != "sdpa" and spec.hyperparameters.packing,
        liger_kernel=LIGER_KERNEL in installed,
    )


def probe_device() -> Device:
    """The current CUDA device's capabilities, or the CPU."""
    import torch  # noqa: PLC0415 (heavy; only the trainer's run needs it)

    if not torch.cuda.is_available():
        return CPU
    return Device(cuda=True, bf16=torch.cuda.is_bf16_supported(), name=torch.cuda.get_device_name())


def installed_packages() -> frozenset[str]:
    """Which of ``OPTIONAL_PACKAGES`` can be imported here (found, not imported)."""
    return frozenset(name for name in OPTIONAL_PACKAGES if importlib.util.find_spec(name))


def for_this_machine(spec: FineTuneJobSpec) -> Acceleration:
    """The choices for the machine this process runs on, logged once."""
    chosen = choose(probe_device(), installed_packages(), spec)
    log.info("acceleration: %s", " ".join(f"{k}={v}" for k, v in chosen.record().items()))
    return chosen
