"""Where models run: the one place that picks the device and the precision, and moves batches.

Users have GPUs; this machine and CI do not. Every model call site (training, enrichment,
normalization, the pipeline, the service) takes a ``DeviceChoice`` and asks this module, so
the CUDA path is the CPU path with a different ``torch.device`` and nothing else:

- ``auto`` is CUDA when ``torch.cuda.is_available()``, else the CPU; ``cuda`` without a usable
  GPU is a ``ModelError`` (a user who asks for a GPU must not silently get a CPU run).
- bf16 (autocast) is on where the device computes it natively: a CUDA device that reports
  ``is_bf16_supported()``. On the CPU a caller's own default stands, so results on the CPU are
  what they were before devices existed.

>>> resolve_device("cpu").type  # doctest: +SKIP
'cpu'
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal, get_args

from docfields.errors import ModelError

if TYPE_CHECKING:
    import torch

DeviceChoice = Literal["auto", "cpu", "cuda"]
DEVICE_CHOICES: tuple[str, ...] = get_args(DeviceChoice)


def resolve_device(choice: str = "auto") -> torch.device:
    """The ``torch.device`` for a ``--device`` value.

    Raises:
        ModelError: an unknown choice, or ``cuda`` on a machine where torch sees no GPU.
    """
    import torch

    if choice not in DEVICE_CHOICES:
        raise ModelError(f"unknown device {choice!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ModelError("--device cuda: torch sees no CUDA device (a CPU-only torch build, or no GPU driver)")
    return torch.device("cuda")


def use_bf16(device: torch.device, cpu_default: bool = False) -> bool:
    """Whether to run in bfloat16 on ``device``: a CUDA device with native bf16, else ``cpu_default`` on the CPU."""
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return cpu_default


def autocast(device: torch.device, enabled: bool) -> AbstractContextManager[Any]:
    """bfloat16 autocast on ``device`` when ``enabled`` (a no-op context otherwise)."""
    import torch

    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """A batch of tensors on ``device`` (non-blocking from pinned memory on CUDA); other values as they are."""
    return {key: value.to(device, non_blocking=True) if hasattr(value, "to") else value
            for key, value in batch.items()}  # fmt: skip


def trainer_device_arguments(device: torch.device, cpu_bf16: bool = False) -> dict[str, Any]:
    """The ``TrainingArguments`` keys that put a Hugging Face Trainer on ``device`` with its precision."""
    return {"use_cpu": device.type == "cpu", "bf16": use_bf16(device, cpu_bf16)}
