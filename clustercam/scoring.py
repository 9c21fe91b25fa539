"""The one engine that scores perturbed images: in chunks, lazily, counted by the cost counter.

Score-CAM, Cluster-CAM and the sanity baselines score masked images with it; deletion, insertion
and Average Drop score perturbed images with it. Chunk size therefore lives in one place and never
changes a result.

Out of GPU memory, a chunk is retried at half the size (down to one image) and the smaller size is
kept for the rest of the process on that device (`chunk_limits`), so a run goes on with the same
results; the bench records the limits in the run folder (runtime.json).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

Output = Literal["probability", "logit"]

log = logging.getLogger(__name__)
# Device -> the largest chunk that fitted after running out of memory there.
_CHUNK_LIMITS: dict[str, int] = {}


def chunk_limits() -> dict[str, int]:
    """The chunk sizes this process has backed off to, by device ({} while none ran out)."""
    return dict(_CHUNK_LIMITS)


@torch.inference_mode()
def class_scores(
    model: nn.Module,
    n_inputs: int,
    make_inputs: Callable[[int, int], torch.Tensor],
    classes: torch.Tensor,
    chunk_size: int,
    output: Output = "probability",
) -> torch.Tensor:
    """Scores of `classes[i]` on input i, for i in 0..n_inputs-1.

    `make_inputs(start, stop)` builds inputs start..stop-1 only when they are needed, so at most one
    chunk of perturbed images is ever held in memory.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if len(classes) != n_inputs:
        raise ValueError(f"{n_inputs} inputs but {len(classes)} classes")
    scores = torch.empty(n_inputs, device=classes.device)
    device = str(classes.device)
    start = 0
    while start < n_inputs:
        size = min(chunk_size, _CHUNK_LIMITS.get(device, chunk_size))
        stop = min(start + size, n_inputs)
        try:
            logits = model(make_inputs(start, stop)).float()
        except torch.cuda.OutOfMemoryError:
            if size == 1:
                raise
            logits = None
        if logits is None:  # outside the except block: the failed chunk's tensors are freed
            _back_off(device, size)
            continue
        if output == "probability":
            logits = logits.softmax(dim=1)
        scores[start:stop] = logits.gather(1, classes[start:stop, None].to(logits.device))[:, 0]
        start = stop
    return scores


def _back_off(device: str, size: int) -> None:
    """Halves the chunk size on `device` after `size` images ran out of memory."""
    _CHUNK_LIMITS[device] = size // 2
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    log.warning(
        "out of memory on %s with %d images per forward pass: going on with %d "
        "(results are the same for any chunk size)", device, size, size // 2,
    )
