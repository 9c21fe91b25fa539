"""The one engine that scores perturbed images: in chunks, lazily, counted by the cost counter.

Score-CAM, Cluster-CAM and the sanity baselines score masked images with it; deletion, insertion
and Average Drop score perturbed images with it. Chunk size therefore lives in one place and never
changes a result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

Output = Literal["probability", "logit"]


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
    for start in range(0, n_inputs, chunk_size):
        stop = min(start + chunk_size, n_inputs)
        logits = model(make_inputs(start, stop)).float()
        if output == "probability":
            logits = logits.softmax(dim=1)
        scores[start:stop] = logits.gather(1, classes[start:stop, None].to(logits.device))[:, 0]
    return scores
