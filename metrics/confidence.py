"""Average Drop and Increase in Confidence (docs/metrics.md): how much class score a map keeps.

Y = p_c(x) and O = p_c(x * E), softmax probabilities of the target class c, where the explanation
mask E is
- `continuous`: E = L, the saliency map itself (Grad-CAM++ definition, the default);
- `top50`: E = 1[L >= median(L)] (Score-CAM paper protocol). The median is `torch.median` over the
  H*W values of each map, i.e. the LOWER median for an even count, and ties at the median are kept,
  so at least half of the pixels (more when values tie) survive.
Per image: drop = 100 * max(0, Y - O) / Y (0 where Y is exactly 0), increase = 1[O > Y].
Average Drop = mean(drop) (lower is better); IC = 100 * mean(increase) (higher is better).

Invalid maps (constant, NaN, inf; see `invalid_maps`) get NaN in every field and cost nothing;
`ConfidenceSummary.n_skipped` counts them.

Cost: `confidence` accepts any nn.Module and sends images through it only via `class_scores`. To
report the metric's own cost apart from the method's, wrap the model:
    counter = counted(model)
    with counter.measure() as cost:
        result = confidence(counter, images, maps, classes)
Forward passes per valid image: 1, plus 1 more unless `original_probs` (Y) is passed in; Y does not
depend on the map, so compute it once per image and share it between methods.
The model must already be in eval mode; images are normalised tensors (0 = the dataset mean).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import nn

from clustercam.scoring import class_scores, memory_format
from metrics.validity import check_batch, check_per_image, invalid_maps

Mode = Literal["continuous", "top50"]
MODES: tuple[str, ...] = get_args(Mode)


@dataclass
class ConfidenceResult:
    """Per-image tensors (B,): Y, O, drop in percent, increase as 0./1.; NaN for skipped maps."""

    original: torch.Tensor
    explained: torch.Tensor
    drop: torch.Tensor
    increase: torch.Tensor

    @property
    def scored(self) -> torch.Tensor:
        """(B,) bool: images whose map was valid and therefore scored."""
        return ~torch.isnan(self.explained)

    @classmethod
    def cat(cls, results: Sequence[ConfidenceResult]) -> ConfidenceResult:
        """Joins the results of several batches, e.g. before `summarize_confidence`."""
        return cls(
            *(
                torch.cat([getattr(r, name) for r in results])
                for name in ("original", "explained", "drop", "increase")
            )
        )


@dataclass(frozen=True)
class ConfidenceSummary:
    """Dataset-level numbers over the scored images only; skipped images are counted apart."""

    average_drop: float
    increase_in_confidence: float
    mean_explained: float
    n_scored: int
    n_skipped: int


def summarize_confidence(result: ConfidenceResult) -> ConfidenceSummary:
    """Average Drop, IC (both in percent) and mean O over the images with a valid map."""
    scored = result.scored
    n_scored = int(scored.sum())

    def mean(values: torch.Tensor) -> float:
        return float(values[scored].double().mean()) if n_scored else float("nan")

    return ConfidenceSummary(
        average_drop=mean(result.drop),
        increase_in_confidence=100.0 * mean(result.increase),
        mean_explained=mean(result.explained),
        n_scored=n_scored,
        n_skipped=len(scored) - n_scored,
    )


def explanation_masks(maps: torch.Tensor, mode: Mode) -> torch.Tensor:
    """The (B, H, W) masks E that multiply the images: L itself, or 1[L >= lower median of L]."""
    if mode == "continuous":
        return maps
    if mode == "top50":
        median = maps.flatten(1).median(dim=1).values
        return (maps >= median[:, None, None]).to(maps.dtype)
    raise ValueError(f"unknown confidence mode {mode!r}; valid modes: {', '.join(MODES)}")


def confidence(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    classes: torch.Tensor,
    mode: Mode = "continuous",
    chunk_size: int = 64,
    original_probs: torch.Tensor | None = None,
) -> ConfidenceResult:
    """Y, O, drop and increase for each image of the batch.

    `maps` (B, H, W) must lie in [0, 1] for `continuous` (a raw map would silently rescale the
    image). `original_probs` (B,) are the known p_c(x): passing them saves one forward per image
    and they are returned as `original` for every image, skipped ones included; otherwise Y is
    computed for the images with a valid map only.
    """
    maps, classes = check_batch(images, maps, classes)
    if mode not in MODES:
        raise ValueError(f"unknown confidence mode {mode!r}; valid modes: {', '.join(MODES)}")
    n_images = len(images)
    keep = (~invalid_maps(maps)).nonzero()[:, 0]  # host syncs happen here, once per call
    kept_maps = maps[keep]
    if mode == "continuous" and bool(((kept_maps < 0) | (kept_maps > 1)).any()):
        raise ValueError("continuous mode needs saliency maps in [0, 1]; normalise them first")

    def nan() -> torch.Tensor:
        return torch.full((n_images,), float("nan"), device=images.device)

    original = nan()
    if original_probs is not None:
        original = check_per_image(original_probs, n_images, "original_probs", images)
        original = original.float().clone()
    else:
        original[keep] = class_scores(
            model,
            len(keep),
            lambda start, stop: images[keep[start:stop]],
            classes[keep],
            chunk_size,
        )

    kept_images = images[keep]
    masks = explanation_masks(kept_maps, mode)[:, None].to(images.dtype)
    layout = memory_format(model)
    buffer = torch.empty(
        (max(0, min(chunk_size, len(keep))), *images.shape[1:]),
        dtype=images.dtype,
        device=images.device,
        memory_format=layout,
    )

    def explained_images(start: int, stop: int) -> torch.Tensor:
        return torch.mul(kept_images[start:stop], masks[start:stop], out=buffer[: stop - start])

    explained, drop, increase = nan(), nan(), nan()
    explained[keep] = class_scores(model, len(keep), explained_images, classes[keep], chunk_size)
    y, o = original[keep], explained[keep]
    safe_y = torch.where(y > 0, y, torch.ones_like(y))
    drop[keep] = torch.where(y > 0, 100.0 * (y - o).clamp(min=0) / safe_y, torch.zeros_like(y))
    increase[keep] = (o > y).float()
    return ConfidenceResult(original=original, explained=explained, drop=drop, increase=increase)
