"""ADCC (Poppi et al., CVPR-W 2021; docs/metrics.md): Average Drop, Coherency and Complexity.

Per image, with the map L in [0, 1] of class c and the explanation image x * L (the continuous
Average Drop's, metrics/confidence.py):
- Coherency = (1 + r) / 2, r the Pearson correlation over the H * W pixels of L and the method's
  own map of x * L for the same class c: a map should explain the image it keeps the same way.
  The rescaling from [-1, 1] to [0, 1] is the authors' code (aimagelab/ADCC, metrics/coherency.py).
- Complexity = ||L||_1 / (H W), the mean saliency (their metrics/complexity.py).
- AD = max(0, Y - O) / Y, Y = p_c(x), O = p_c(x * L), Average Drop as a fraction (`drop` / 100).
ADCC = 3 / (1 / Coherency + 1 / (1 - Complexity) + 1 / (1 - AD)), their harmonic mean, per image
(as their metrics/adcc.py); a part equal to 0 makes it 0. Higher is better for ADCC and
Coherency, lower for Complexity and AD. The data-set ADCC is the mean of the per-image values.

Coherency calls the method a second time. `adcc` counts that call's forward, backward and tail
passes apart (`coherency_cost`) from the first call (`method_cost`, zero when the maps are given)
and from Average Drop's forward passes (`metric_cost`, zero when the `ConfidenceResult` of the
same maps, continuous mode, is given). Costs are totals over the batch.

Invalid maps (metrics.validity) give NaN in every part and cost nothing. A valid map whose second
map (of x * L) is invalid has no coherency: NaN coherency and ADCC, flagged in `second_invalid`
so the caller can count it apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from clustercam.cost import Cost
from metrics.confidence import ConfidenceResult, confidence
from metrics.explainers import Explainer, explain, method_counter
from metrics.validity import check_batch, check_per_image, invalid_maps


@dataclass
class ADCCResult:
    """Per-image (B,) float64 tensors, NaN for skipped images, and the batch's costs."""

    adcc: torch.Tensor
    coherency: torch.Tensor
    complexity: torch.Tensor
    drop: torch.Tensor
    second_invalid: torch.Tensor
    method_cost: Cost = field(default_factory=Cost)
    coherency_cost: Cost = field(default_factory=Cost)
    metric_cost: Cost = field(default_factory=Cost)

    @property
    def scored(self) -> torch.Tensor:
        """(B,) bool: images with an ADCC (valid map and valid second map)."""
        return ~torch.isnan(self.adcc)

    @classmethod
    def cat(cls, results: Sequence[ADCCResult]) -> ADCCResult:
        """Joins the results of several batches; their costs add up."""

        def joined(name: str) -> torch.Tensor:
            return torch.cat([getattr(r, name) for r in results])

        def total(name: str) -> Cost:
            return sum((getattr(r, name) for r in results), Cost())

        return cls(
            adcc=joined("adcc"),
            coherency=joined("coherency"),
            complexity=joined("complexity"),
            drop=joined("drop"),
            second_invalid=joined("second_invalid"),
            method_cost=total("method_cost"),
            coherency_cost=total("coherency_cost"),
            metric_cost=total("metric_cost"),
        )


@dataclass(frozen=True)
class ADCCSummary:
    """Means over the images with an ADCC; the parts are in [0, 1] (AD too, not percent)."""

    adcc: float
    coherency: float
    complexity: float
    average_drop: float
    n_scored: int
    n_skipped: int
    n_second_invalid: int


def summarize_adcc(result: ADCCResult) -> ADCCSummary:
    """Means of ADCC and its parts over the images that have an ADCC."""
    scored = result.scored
    n_scored = int(scored.sum())

    def mean(values: torch.Tensor) -> float:
        return float(values[scored].double().mean()) if n_scored else float("nan")

    return ADCCSummary(
        adcc=mean(result.adcc),
        coherency=mean(result.coherency),
        complexity=mean(result.complexity),
        average_drop=mean(result.drop) / 100.0,
        n_scored=n_scored,
        n_skipped=len(scored) - n_scored,
        n_second_invalid=int(result.second_invalid.sum()),
    )


def pearson(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """(B, H, W) twice -> (B,) Pearson correlation in float64; NaN where either map is invalid."""
    if first.shape != second.shape:
        raise ValueError(f"maps differ in shape: {tuple(first.shape)} and {tuple(second.shape)}")
    a = first.flatten(1).double()
    b = second.flatten(1).double()
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    r = (a * b).sum(dim=1) / (a.square().sum(dim=1) * b.square().sum(dim=1)).sqrt()
    bad = invalid_maps(first) | invalid_maps(second)
    return torch.where(bad, torch.full_like(r, float("nan")), r.clamp(-1.0, 1.0))


def harmonic_adcc(
    coherency: torch.Tensor, complexity: torch.Tensor, drop_fraction: torch.Tensor
) -> torch.Tensor:
    """3 / (1 / coherency + 1 / (1 - complexity) + 1 / (1 - AD)); 0 when a part is 0."""
    parts = torch.stack([coherency, 1 - complexity, 1 - drop_fraction]).double()
    return 3.0 / (1.0 / parts).sum(dim=0)


def adcc(
    method: Explainer,
    model: nn.Module,
    images: torch.Tensor,
    classes: torch.Tensor,
    maps: torch.Tensor | None = None,
    confidence_result: ConfidenceResult | None = None,
    original_probs: torch.Tensor | None = None,
    chunk_size: int = 64,
) -> ADCCResult:
    """ADCC and its parts for each image, with the method called on x * L once more.

    `maps` are the method's maps of `images` for `classes` (the method is called for them when
    None); `confidence_result` is Average Drop's continuous result for these maps (computed when
    None, with `original_probs` = p_c(x) when given). The model must be in eval mode.
    """
    counter = method_counter(method, model)
    classes = check_per_image(classes, len(images), "classes", images).long()
    method_cost = Cost()
    if maps is None:
        with counter.measure() as method_cost:
            maps = explain(method, images, classes)
    maps, classes = check_batch(images, maps, classes)
    n_images = len(images)
    valid = ~invalid_maps(maps)
    keep = valid.nonzero()[:, 0]

    metric_cost = Cost()
    if confidence_result is None:
        with counter.measure() as metric_cost:
            confidence_result = confidence(
                counter, images, maps, classes, "continuous", chunk_size, original_probs
            )
    elif tuple(confidence_result.drop.shape) != (n_images,) or not torch.equal(
        confidence_result.scored.to(valid.device), valid
    ):
        raise ValueError("confidence_result must be Average Drop's result for these very maps")

    kept_maps = maps[keep]
    if bool(((kept_maps < 0) | (kept_maps > 1)).any()):
        raise ValueError("ADCC needs saliency maps in [0, 1]; normalise them first")
    second = torch.zeros_like(kept_maps)
    with counter.measure() as coherency_cost:
        if len(keep):
            explained = images[keep] * kept_maps[:, None].to(images.dtype)
            second = explain(method, explained, classes[keep])

    def nan() -> torch.Tensor:
        return torch.full((n_images,), float("nan"), dtype=torch.float64, device=images.device)

    coherency, complexity, drop, score = nan(), nan(), nan(), nan()
    second_invalid = torch.zeros(n_images, dtype=torch.bool, device=images.device)
    if len(keep):
        coherency[keep] = (1 + pearson(kept_maps, second)) / 2
        complexity[keep] = kept_maps.flatten(1).double().abs().mean(dim=1)
        second_invalid[keep] = invalid_maps(second)
    drop[keep] = confidence_result.drop.to(images.device)[keep].double()
    score[keep] = harmonic_adcc(coherency[keep], complexity[keep], drop[keep] / 100.0)
    return ADCCResult(
        adcc=score,
        coherency=coherency,
        complexity=complexity,
        drop=drop,
        second_invalid=second_invalid,
        method_cost=method_cost,
        coherency_cost=coherency_cost,
        metric_cost=metric_cost,
    )
