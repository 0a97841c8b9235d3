"""Where models run: the one place that picks the device and the precision, and moves batches.

Users have GPUs; this machine and CI do not. Every model call site (training, enrichment,
normalization, the pipeline, the service) takes a ``DeviceChoice`` and asks this module, so
the CUDA path is the CPU path with a different ``torch.device`` and nothing else:

- ``auto`` is CUDA when ``torch.cuda.is_available()``, else the CPU; ``cuda`` without a usable
  GPU is a ``ModelError`` (a user who asks for a GPU must not silently get a CPU run).
- bf16 (autocast) is on where the device computes it natively: a CUDA device that reports
  ``is_bf16_supported()``. On the CPU a caller's own default stands, so results on the CPU are
  what they were before devices existed.
- Commands whose models load in processes they start (``process``, ``watch``, ``serve``: worker
  processes, Ray actors) hold those processes to the choice with ``confine_processes``.

>>> resolve_device("cpu").type  # doctest: +SKIP
'cpu'
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal, get_args

from docfields.errors import ModelError

if TYPE_CHECKING:
    import torch

DeviceChoice = Literal["auto", "cpu", "cuda"]
DEVICE_CHOICES: tuple[str, ...] = get_args(DeviceChoice)
DEVICE_HELP = "Where models run: auto (a GPU when torch sees one), cpu or cuda."


def resolve_device(choice: str = "auto") -> torch.device:
    """The ``torch.device`` for a ``--device`` value.

    Raises:
        ModelError: an unknown choice, or ``cuda`` on a machine where torch sees no GPU.
    """
    import torch

    _check_name(choice)
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ModelError("--device cuda: torch sees no CUDA device (a CPU-only torch build, or no GPU driver)")
    return torch.device("cuda")


def _check_name(choice: str) -> None:
    if choice not in DEVICE_CHOICES:
        raise ModelError(f"unknown device {choice!r}: choose one of {', '.join(DEVICE_CHOICES)}")


def check_device(choice: str) -> None:
    """Refuse now what ``resolve_device`` would refuse when a model loads, so a command fails before its
    heavy work; torch is imported only for ``cuda``.

    Raises:
        ModelError: an unknown choice, or ``cuda`` on a machine where torch sees no GPU.
        MissingExtraError: ``cuda`` without torch installed.
    """
    _check_name(choice)
    if choice == "cuda":
        from docfields.extras import require

        require("ml", "--device cuda")
        resolve_device(choice)


def model_device(model: torch.nn.Module) -> torch.device:
    """Where ``model``'s weights are (a Trainer may have moved them): its inputs go there too."""
    return next(model.parameters()).device


def confine_processes(choice: str) -> None:
    """Hold this process and the worker processes it starts to ``choice``, before any model loads.

    ``process``, ``watch`` and ``serve`` load their models lazily, where stages run: in worker
    processes this one spawns, each loading with ``auto``. ``cpu`` hides the GPUs from all of them
    with ``CUDA_VISIBLE_DEVICES=""`` (CUDA's own switch, inherited by every spawned worker), so
    their ``auto`` is the CPU; ``cuda`` is checked here, so a missing GPU fails before any
    document is read, and their ``auto`` then finds it; ``auto`` leaves them to choose. Ray's
    actors and replicas reserve no GPUs: ``--device cuda --ray`` is refused (``cluster.connect``).

    Raises:
        ModelError: an unknown choice, or ``cuda`` on a machine where torch sees no GPU.
    """
    check_device(choice)
    if choice == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # read when CUDA starts: before the first model loads


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
    """A batch's tensors on ``device``, other values as they are.

    Copies to a GPU are queued on its stream (``non_blocking``: later kernels wait for them); a copy
    back to the CPU blocks, so the values are there when read.
    """
    import torch

    queued = device.type == "cuda"
    return {key: value.to(device, non_blocking=queued) if isinstance(value, torch.Tensor) else value
            for key, value in batch.items()}  # fmt: skip


def trainer_device_arguments(device: torch.device, cpu_bf16: bool = False) -> dict[str, Any]:
    """The ``TrainingArguments`` keys that put a Hugging Face Trainer on ``device`` with its precision."""
    return {"use_cpu": device.type == "cpu", "bf16": use_bf16(device, cpu_bf16)}
