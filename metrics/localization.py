"""Localisation metrics (docs/metrics.md, "Localisation"): does a map point at the object?

Pure functions of saliency maps at the input size (B, H, W) and a ground truth given as a
boolean region (B, H, W) (`box_masks` rasterises boxes into one), or as boxes for the Grad-CAM
box localisation. No forward pass.

Boxes are (x0, y0, x1, y1) in half-open pixel coordinates of the map: x0 <= x < x1 and
y0 <= y < y1, (0, 0) the top-left corner of the top-left pixel, so the pixel in column j and row
i covers [j, j + 1) x [i, i + 1) and an integer box (2, 1, 5, 3) holds columns 2, 3, 4 and rows
1, 2. Coordinates may be fractional (boxes mapped through a resize): a pixel belongs to a box
when its centre (j + 0.5, i + 0.5) does.

- `energy_pointing_game` (Score-CAM, Wang et al. 2020): the share of the map's non-negative
  energy inside the region. Higher is better.
- `pointing_game` (Zhang et al. 2016/2018): 1 when the map's maximum lies in the region or less
  than `tolerance` pixels from it, else 0. Higher is better.
- `box_localization` (Grad-CAM, Selvaraju et al. 2017): the box of the largest connected
  component of {L >= threshold * max L}, its best IoU with the ground-truth boxes, and whether
  that IoU reaches 0.5. Higher is better.
- `relevance_mass_accuracy` and `relevance_rank_accuracy` (Arras et al. 2022, CLEVR-XAI): the
  share of the positive relevance inside the mask, and the share of the top-K pixels
  (K = the mask's size) inside the mask. Higher is better.

Every metric returns NaN for an invalid map (constant or not finite: metrics.validity's policy)
and for an image without ground truth (an empty region, no box); `empty_regions` tells the
caller which images had no ground truth, so both can be counted apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from scipy import ndimage

from metrics.validity import invalid_maps

Ties = Literal["first", "any", "all"]
TIES: tuple[str, ...] = get_args(Ties)
POINTING_TOLERANCE = 15.0
CAM_THRESHOLD = 0.15
IOU_THRESHOLD = 0.5
# 8-connectivity: diagonal neighbours join a component.
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)

BoxesLike = torch.Tensor | Sequence[Sequence[float]]


def as_boxes(boxes: BoxesLike) -> torch.Tensor:
    """(n, 4) float64 boxes (x0, y0, x1, y1) on the CPU; an empty list gives a (0, 4) tensor.

    Raises:
        ValueError: the boxes are not (n, 4), not finite, or have x1 < x0 or y1 < y0.
    """
    tensor = torch.as_tensor(boxes, dtype=torch.float64).detach().cpu()
    if tensor.numel() == 0:
        return tensor.reshape(0, 4)
    if tensor.ndim == 1 and tensor.numel() == 4:
        tensor = tensor[None]
    if tensor.ndim != 2 or tensor.shape[1] != 4:
        raise ValueError(f"boxes must be (n, 4) as (x0, y0, x1, y1), got {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError("boxes must hold finite coordinates")
    if bool(((tensor[:, 2] < tensor[:, 0]) | (tensor[:, 3] < tensor[:, 1])).any()):
        raise ValueError("boxes need x1 >= x0 and y1 >= y0 (x0, y0, x1, y1)")
    return tensor


def pixel_span(low: torch.Tensor, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First and one-past-last pixel index whose centre k + 0.5 lies in [low, high)."""
    return torch.ceil(low - 0.5).long(), torch.ceil(high - 0.5).long()


def covers_pixels(boxes: BoxesLike) -> torch.Tensor:
    """(n,) bool: boxes that hold at least one pixel centre (a non-empty rasterisation)."""
    tensor = as_boxes(boxes)
    x_start, x_stop = pixel_span(tensor[:, 0], tensor[:, 2])
    y_start, y_stop = pixel_span(tensor[:, 1], tensor[:, 3])
    return (x_stop > x_start) & (y_stop > y_start)


def box_mask(boxes: BoxesLike, height: int, width: int) -> torch.Tensor:
    """(H, W) bool: the union of the boxes, pixel (i, j) inside when its centre is in a box."""
    tensor = as_boxes(boxes)
    centres_x = torch.arange(width, dtype=torch.float64) + 0.5
    centres_y = torch.arange(height, dtype=torch.float64) + 0.5
    columns = (centres_x >= tensor[:, 0:1]) & (centres_x < tensor[:, 2:3])  # (n, W)
    rows = (centres_y >= tensor[:, 1:2]) & (centres_y < tensor[:, 3:4])  # (n, H)
    return (rows[:, :, None] & columns[:, None, :]).any(dim=0)


def box_masks(boxes: Sequence[BoxesLike], height: int, width: int) -> torch.Tensor:
    """(B, H, W) bool regions from one list of boxes per image; no box gives an empty region."""
    if len(boxes) == 0:
        return torch.zeros(0, height, width, dtype=torch.bool)
    return torch.stack([box_mask(image_boxes, height, width) for image_boxes in boxes])


def empty_regions(regions: torch.Tensor) -> torch.Tensor:
    """(B, H, W) regions -> (B,) bool: images without ground truth (scored NaN, count apart)."""
    return ~(regions != 0).flatten(1).any(dim=1)


def relevance_mass_accuracy(maps: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """(B,) float64: sum of max(L, 0) inside the region / sum of max(L, 0) over the image.

    Arras et al. (2022) count positive relevance only. NaN for invalid maps, empty regions and
    maps without a positive value (0 / 0).
    """
    maps, regions, valid = _checked(maps, regions)
    positive = maps.double().clamp(min=0).flatten(1)
    total = positive.sum(dim=1)
    inside = (positive * regions.flatten(1)).sum(dim=1)
    safe = torch.where(total > 0, total, torch.ones_like(total))
    share = inside / safe
    return torch.where(valid & (total > 0), share, torch.full_like(share, math.nan))


def energy_pointing_game(maps: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """(B,) float64: the share of the map's non-negative energy inside the region (Score-CAM).

    The same formula as `relevance_mass_accuracy`; the papers differ only in their region
    (Score-CAM: the class's bounding boxes; CLEVR-XAI: object masks).
    """
    return relevance_mass_accuracy(maps, regions)


def relevance_rank_accuracy(maps: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """(B,) float64: the share of the K highest pixels of L lying in the region, K = its size.

    Ties at the K-th highest value are split evenly: the t tied pixels fill the s slots left,
    each counting s / t, i.e. the expected share under a random order of the ties (the result
    never depends on the pixels' order). NaN for invalid maps and empty regions.
    """
    maps, regions, valid = _checked(maps, regions)
    values = maps.flatten(1)
    inside = regions.flatten(1)
    size = inside.sum(dim=1)
    ordered = torch.sort(values, dim=1, descending=True).values
    kth = ordered.gather(1, (size - 1).clamp(min=0)[:, None])  # the K-th highest value
    above, tied = values > kth, values == kth
    n_above, n_tied = above.sum(dim=1), tied.sum(dim=1).clamp(min=1)
    slots = (size - n_above).double()
    hits = (above & inside).sum(dim=1).double()
    hits = hits + slots * (tied & inside).sum(dim=1).double() / n_tied.double()
    share = hits / size.clamp(min=1).double()
    return torch.where(valid, share, torch.full_like(share, math.nan))


def pointing_game(
    maps: torch.Tensor,
    regions: torch.Tensor,
    tolerance: float = POINTING_TOLERANCE,
    ties: Ties = "first",
) -> torch.Tensor:
    """(B,) float64: 1. for a hit, 0. for a miss, NaN for invalid maps and empty regions.

    A hit when the map's maximal pixel lies in the region or its centre is less than `tolerance`
    pixels (Euclidean, between pixel centres) from a region pixel's centre, as TorchRay's
    reference implementation (strictly less); `tolerance=0` asks for the maximum inside the
    region. Several pixels sharing the maximum (`ties`): `first` (the default) judges the first
    in row-major order, the one torch.argmax and numpy.argmax return; `any` counts a hit when
    one of them hits (a map flat at its maximum would hit almost always), `all` only when all
    of them do.
    """
    if ties not in TIES:
        raise ValueError(f"unknown ties rule {ties!r}; valid rules: {', '.join(TIES)}")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance}")
    maps, regions, valid = _checked(maps, regions)
    result = torch.full((len(maps),), math.nan, dtype=torch.float64)
    for index in valid.nonzero()[:, 0].tolist():
        region = regions[index].cpu().numpy()
        # Distance from every pixel to the nearest region pixel (0 inside the region).
        distance = ndimage.distance_transform_edt(~region)
        accept = torch.from_numpy(region | (distance < tolerance))
        values = maps[index].cpu()
        if ties == "first":
            hit = bool(accept.flatten()[torch.argmax(values.flatten())])
        else:
            is_max = values == values.max()
            hit = bool((is_max & accept).any()) if ties == "any" else bool(accept[is_max].all())
        result[index] = float(hit)
    return result.to(maps.device)


def box_iou(boxes: BoxesLike, others: BoxesLike) -> torch.Tensor:
    """(n, m) float64 IoU of half-open boxes (areas as (x1 - x0) (y1 - y0)); 0 for empty pairs."""
    a, b = as_boxes(boxes), as_boxes(others)
    width = torch.minimum(a[:, None, 2], b[None, :, 2]) - torch.maximum(a[:, None, 0], b[:, 0])
    height = torch.minimum(a[:, None, 3], b[None, :, 3]) - torch.maximum(a[:, None, 1], b[:, 1])
    intersection = width.clamp(min=0) * height.clamp(min=0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - intersection
    return torch.where(union > 0, intersection / union.clamp(min=1e-300), torch.zeros_like(union))


def largest_component_box(
    saliency: torch.Tensor, threshold: float = CAM_THRESHOLD
) -> torch.Tensor | None:
    """(4,) float64 box (x0, y0, x1, y1) of the largest 8-connected component of
    {L >= threshold * max L} in one (H, W) map; None when max L <= 0 (no intensity to threshold).

    Components are labelled by scipy.ndimage.label; equal sizes go to the component met first
    in row-major order. The box is the component's pixel extent, half-open.
    """
    values = saliency.detach().double().cpu().numpy()
    peak = float(values.max())
    if not peak > 0:
        return None
    labels, _ = ndimage.label(values >= threshold * peak, structure=EIGHT_CONNECTED)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0  # the background
    rows, columns = ndimage.find_objects(labels)[int(np.argmax(sizes)) - 1]
    return torch.tensor([columns.start, rows.start, columns.stop, rows.stop], dtype=torch.float64)


@dataclass
class BoxLocalizationResult:
    """Per-image (B,) tensors, float64: best IoU, 1./0. for IoU >= the threshold, and (B, 4)
    predicted boxes. NaN where the map is invalid or has no positive value (all three), or where
    the image has no ground-truth box of positive area (IoU and correct; the predicted box is
    still given)."""

    iou: torch.Tensor
    correct: torch.Tensor
    boxes: torch.Tensor


def box_localization(
    maps: torch.Tensor,
    boxes: Sequence[BoxesLike],
    threshold: float = CAM_THRESHOLD,
    iou_threshold: float = IOU_THRESHOLD,
) -> BoxLocalizationResult:
    """Grad-CAM's weakly supervised localisation on (B, H, W) maps and one list of boxes per image.

    Each map is thresholded at `threshold` times its maximum (>=), the largest 8-connected
    component's bounding box is compared with every ground-truth box of the image of positive
    area, and the best IoU is kept; `correct` is IoU >= `iou_threshold`. Whether the class was
    also predicted right (ILSVRC's top-1 localisation) is the caller's business.
    """
    if maps.ndim != 3:
        raise ValueError(f"maps must be a (B, H, W) batch, got shape {tuple(maps.shape)}")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold is a fraction of the maximum in [0, 1], got {threshold}")
    if len(boxes) != len(maps):
        raise ValueError(f"boxes must hold one list per image ({len(maps)}), got {len(boxes)}")
    n_images = len(maps)
    iou = torch.full((n_images,), math.nan, dtype=torch.float64)
    correct = torch.full((n_images,), math.nan, dtype=torch.float64)
    predicted = torch.full((n_images, 4), math.nan, dtype=torch.float64)
    valid = ~invalid_maps(maps)
    for index in range(n_images):
        truth = as_boxes(boxes[index])
        truth = truth[(truth[:, 2] > truth[:, 0]) & (truth[:, 3] > truth[:, 1])]
        found = largest_component_box(maps[index], threshold) if bool(valid[index]) else None
        if found is None:
            continue
        predicted[index] = found
        if len(truth):
            iou[index] = box_iou(found, truth).max()
            correct[index] = float(bool(iou[index] >= iou_threshold))
    device = maps.device
    return BoxLocalizationResult(iou.to(device), correct.to(device), predicted.to(device))


def _checked(
    maps: torch.Tensor, regions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Maps, bool regions on the maps' device, and (B,) bool: valid map and non-empty region."""
    valid_maps = ~invalid_maps(maps)
    if tuple(regions.shape) != tuple(maps.shape):
        raise ValueError(
            f"regions must have the maps' shape {tuple(maps.shape)}, got {tuple(regions.shape)}"
        )
    regions = (regions != 0).to(maps.device)
    return maps, regions, valid_maps & ~empty_regions(regions)
