"""Average Gain (Zhang et al., Opti-CAM, CVIU 2024; docs/metrics.md): Average Drop's counterpart.

With Y = p_c(x) and O = p_c(x * E) as in Average Drop (metrics/confidence.py, same masks E):
gain = 100 * max(0, O - Y) / (1 - Y) per image (0 where Y is exactly 1), and Average Gain (AG) is
the mean gain; higher is better. AD rewards keeping the class score, AG rewards raising it; the
Opti-CAM paper reports both because a map can score well on AD alone by keeping the whole image.

The probabilities are the ones Average Drop already computes, so `gain_from_confidence` costs no
forward pass at all: pass it the `ConfidenceResult` of the same maps. `gain` computes them itself
through `confidence` and costs what it costs (1 forward per valid image, 2 without
`original_probs`). Invalid maps (metrics.validity) give NaN and cost nothing.
"""

from __future__ import annotations

import torch
from torch import nn

from metrics.confidence import ConfidenceResult, Mode, confidence


def average_gain_values(original: torch.Tensor, explained: torch.Tensor) -> torch.Tensor:
    """(B,) gain in percent from Y = p_c(x) and O = p_c(x * E); NaN where O is NaN."""
    if original.shape != explained.shape:
        raise ValueError(
            f"original and explained probabilities differ in shape: {tuple(original.shape)} "
            f"and {tuple(explained.shape)}"
        )
    headroom = 1 - original
    safe = torch.where(headroom > 0, headroom, torch.ones_like(headroom))
    gained = 100.0 * (explained - original).clamp(min=0) / safe
    gained = torch.where(headroom > 0, gained, torch.zeros_like(gained))
    return torch.where(torch.isnan(explained), explained, gained)


def gain_from_confidence(result: ConfidenceResult) -> torch.Tensor:
    """(B,) gain in percent of the images Average Drop scored; NaN for skipped maps."""
    return average_gain_values(result.original, result.explained)


def gain(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    classes: torch.Tensor,
    mode: Mode = "continuous",
    chunk_size: int = 64,
    original_probs: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B,) gain in percent, computing p_c(x * E) (and p_c(x) unless given) with `confidence`."""
    result = confidence(model, images, maps, classes, mode, chunk_size, original_probs)
    return gain_from_confidence(result)
