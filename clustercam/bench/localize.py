"""The localisation columns of a run: each map against its image's ground truth (docs/metrics.md,
"Localisation"), no forward pass.

The ground truth of an image is its boxes of the explained class in the model input's pixels
(hand-drawn or ILSVRC boxes, or a grid's explained cell). An image whose data set has no ground
truth, or with no box of the explained class left in the crop, scores NaN and is counted in
`gt_boxes` (0 boxes, or empty where the data set has none), never an error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from clustercam.bench.columns import GT_BOXES, LOCALIZATION_COLUMNS
from clustercam.bench.data import ClassBox
from metrics import (
    CAM_THRESHOLD,
    IOU_THRESHOLD,
    POINTING_TOLERANCE,
    box_localization,
    box_masks,
    energy_pointing_game,
    pointing_game,
    relevance_rank_accuracy,
)

LOCALIZATION_METRICS: tuple[str, ...] = tuple(LOCALIZATION_COLUMNS)


@dataclass(frozen=True)
class Localization:
    """Which localisation metrics a run scores (`metrics.localization`), and their options."""

    metrics: tuple[str, ...] = ()
    tolerance: float = POINTING_TOLERANCE
    cam_threshold: float = CAM_THRESHOLD
    iou_threshold: float = IOU_THRESHOLD

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in LOCALIZATION_METRICS]
        if unknown:
            raise ValueError(
                f"unknown localization metric {unknown[0]!r}; valid: "
                f"{', '.join(LOCALIZATION_METRICS)}"
            )


def class_boxes(truth: Sequence[ClassBox] | None, target: int) -> torch.Tensor | None:
    """(n, 4) boxes of class `target`; None where the image has no ground truth at all."""
    if truth is None:
        return None
    kept = [box[1:] for box in truth if box[0] == target]
    return torch.tensor(kept, dtype=torch.float64).reshape(-1, 4)


def localization_columns(
    spec: Localization,
    maps: torch.Tensor,
    truths: Sequence[Sequence[ClassBox] | None],
    targets: Sequence[int],
) -> dict[str, list[float]]:
    """Per-image values of the configured localisation columns and `gt_boxes` for (B, H, W) maps."""
    if not spec.metrics:
        return {}
    boxes = [class_boxes(truth, target) for truth, target in zip(truths, targets)]
    counts = [math.nan if b is None else float(len(b)) for b in boxes]
    listed = [torch.zeros(0, 4, dtype=torch.float64) if b is None else b for b in boxes]
    maps = maps.detach().float().cpu()
    height, width = maps.shape[-2:]
    regions = box_masks(listed, height, width)
    values: dict[str, torch.Tensor] = {}
    for metric in spec.metrics:
        if metric == "energy":
            found = (energy_pointing_game(maps, regions),)
        elif metric == "pointing":
            found = (pointing_game(maps, regions, spec.tolerance),)
        elif metric == "rank":
            found = (relevance_rank_accuracy(maps, regions),)
        else:  # box: the Grad-CAM paper's IoU of the largest component's box, and IoU >= 0.5
            result = box_localization(maps, listed, spec.cam_threshold, spec.iou_threshold)
            found = (result.iou, result.correct)
        values.update(zip(LOCALIZATION_COLUMNS[metric], found))
    columns = {column: v.double().tolist() for column, v in values.items()}
    return {**columns, GT_BOXES: counts}
