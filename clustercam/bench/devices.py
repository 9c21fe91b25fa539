"""Where a run works and how much it does at once: device, batch and chunk sizes, data workers,
and the numeric settings that make `precision=fp32` mean fp32 on every device.

`auto` sizes follow the device (docs/performance.md): on a GPU per-call overheads dominate, so
many images and large chunks per forward pass; on a CPU the forward passes themselves dominate
and one image at a time keeps memory low and an interrupted run cheap. Results never depend on them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch

from clustercam.cost import Precision

log = logging.getLogger(__name__)

AUTO = "auto"
# (batch_size, chunk_size) chosen by `auto` per device type. On a CPU the masked passes (chunks)
# carry the work, so one image at a time costs nothing and keeps a resumed run bit-identical
# (float sums in a batched forward pass may round differently from a single image's).
AUTO_SIZES: dict[str, tuple[int, int]] = {"cuda": (32, 256), "cpu": (1, 16)}
MAX_CUDA_WORKERS = 4


@dataclass(frozen=True)
class Plan:
    """The resolved `device`, `batch_size`, `chunk_size` and `num_workers` of a run."""

    device: torch.device
    batch_size: int
    chunk_size: int
    num_workers: int


def resolve_device(name: str) -> torch.device:
    """`auto` is cuda when available, else cpu."""
    if name == AUTO:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def resolve_plan(device: str, batch_size: Any, chunk_size: Any, num_workers: Any) -> Plan:
    """Each `auto` replaced by the device's choice; integers checked (>= 1, workers >= 0)."""
    resolved = resolve_device(device)
    kind = "cuda" if resolved.type == "cuda" else "cpu"
    auto_batch, auto_chunk = AUTO_SIZES[kind]
    auto_workers = min(MAX_CUDA_WORKERS, os.cpu_count() or 1) if kind == "cuda" else 0
    plan = Plan(
        resolved,
        _size("batch_size", batch_size, auto_batch, minimum=1),
        _size("chunk_size", chunk_size, auto_chunk, minimum=1),
        _size("num_workers", num_workers, auto_workers, minimum=0),
    )
    log.info(
        "device %s: batch_size %d%s, chunk_size %d%s, num_workers %d%s",
        plan.device,
        plan.batch_size,
        " (auto)" if batch_size == AUTO else "",
        plan.chunk_size,
        " (auto)" if chunk_size == AUTO else "",
        plan.num_workers,
        " (auto)" if num_workers == AUTO else "",
    )
    return plan


def resolved_chunk_size(chunk_size: Any, device: str) -> int:
    """`chunk_size` with `auto` replaced by the device's choice; the methods' configs read it
    through the `resolved_chunk_size` resolver, so a config composed outside a run works too."""
    auto = AUTO_SIZES["cuda" if resolve_device(device).type == "cuda" else "cpu"][1]
    return _size("chunk_size", chunk_size, auto, minimum=1)


def set_numerics(device: torch.device, precision: Precision) -> None:
    """With fp32 on CUDA, turns TF32 off so that fp32 means fp32 on every device.

    cuDNN's TF32 convolutions perturb activations by about 1e-3, enough to flip Cluster-CAM's
    clustering and break CPU/GPU agreement (docs/performance.md). Process-wide, as torch's
    flags are.
    """
    if device.type == "cuda" and precision == "fp32":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def _size(key: str, value: Any, auto: int, minimum: int) -> int:
    if value == AUTO:
        return auto
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be 'auto' or an integer >= {minimum}, got {value!r}")
    return value
