"""Max-Sensitivity (Yeh et al., NeurIPS 2019; docs/metrics.md): how far a map moves under noise.

For each image x and each of N samples x' = x + u, u uniform in [-r, r] independently per value
(channel and pixel), in the model's input space (normalised images here):
    sensitivity(x') = ||L(x) - L(x')||_F / ||L(x)||_F,
with L(x') the method's map of x' for the same class c; Max-Sensitivity is the largest over the
N samples. Lower is better. This is Quantus 0.6's `MaxSensitivity` with its defaults (uniform
noise, `lower_bound` r = 0.2, difference, Frobenius norms, the denominator the norm of the
original explanation, no normalisation, prediction changes ignored), except that Quantus draws
200 samples by default and `n_samples` is 10 here: the method is called N times per image.

The noise of an image is drawn from a generator seeded by `seed` and the image's own bytes, on the
CPU, so it never depends on the batch an image shares, nor on the device. `perturbed_images`
yields exactly the inputs the metric explains.

Invalid maps of x (metrics.validity) give NaN and cost nothing. A map of x' that is not finite
makes that sample NaN; the maximum ignores NaN samples (as Quantus does), and is NaN only when all
are. A constant map of x' is compared as it is: it is a real change of the explanation.

Cost: the method's N calls run through the same counter as the metric (metrics.explainers) and
are reported as `cost` (totals over the batch); the call for L(x), when `maps` is not given, as
`method_cost`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from clustercam.cost import Cost
from metrics.explainers import Explainer, explain, method_counter
from metrics.validity import check_batch, check_per_image, invalid_maps

QUANTUS_RADIUS = 0.2
QUANTUS_SAMPLES = 200
_GOLDEN = 0x9E3779B1  # an odd constant: seeds 0, 1, 2, ... give distinct generator seeds


@dataclass
class SensitivityResult:
    """Max-Sensitivity (B,) and each sample's sensitivity (B, N), float64; NaN rows for skipped
    maps; the N calls' cost and the first call's (zero when the maps were given), batch totals."""

    max_sensitivity: torch.Tensor
    sensitivities: torch.Tensor
    cost: Cost = field(default_factory=Cost)
    method_cost: Cost = field(default_factory=Cost)

    @property
    def scored(self) -> torch.Tensor:
        """(B,) bool: images whose map was valid and therefore scored."""
        return ~torch.isnan(self.max_sensitivity)


def perturbed_images(
    images: torch.Tensor, n_samples: int, radius: float = QUANTUS_RADIUS, seed: int = 0
) -> Iterator[torch.Tensor]:
    """The N noisy batches x + u, u ~ U[-radius, radius), one per sample, on the images' device."""
    _check_options(n_samples, radius)
    generators = [torch.Generator().manual_seed(image_seed(image, seed)) for image in images]

    def batches() -> Iterator[torch.Tensor]:
        for _ in range(n_samples):
            draws = [
                torch.rand(image.shape, generator=generator, dtype=torch.float64)
                for image, generator in zip(images, generators)
            ]
            unit = torch.stack(draws) if draws else torch.zeros(images.shape, dtype=torch.float64)
            noise = (2 * unit - 1) * radius
            yield images + noise.to(device=images.device, dtype=images.dtype)

    return batches()


def max_sensitivity(
    method: Explainer,
    model: nn.Module,
    images: torch.Tensor,
    classes: torch.Tensor,
    maps: torch.Tensor | None = None,
    n_samples: int = 10,
    radius: float = QUANTUS_RADIUS,
    seed: int = 0,
) -> SensitivityResult:
    """Max-Sensitivity of `method` on each image, calling it `n_samples` times on the batch.

    `maps` are the method's maps of `images` for `classes` (the method is called for them when
    None). The model must be in eval mode.
    """
    _check_options(n_samples, radius)
    counter = method_counter(method, model)
    classes = check_per_image(classes, len(images), "classes", images).long()
    method_cost = Cost()
    if maps is None:
        with counter.measure() as method_cost:
            maps = explain(method, images, classes)
    maps, classes = check_batch(images, maps, classes)
    keep = (~invalid_maps(maps)).nonzero()[:, 0]
    original = maps[keep].flatten(1).double()
    norms = original.norm(dim=1)
    sensitivities = torch.full(
        (len(images), n_samples), float("nan"), dtype=torch.float64, device=images.device
    )
    with counter.measure() as cost:
        if len(keep):
            noisy = perturbed_images(images[keep], n_samples, radius, seed)
            for sample, perturbed in enumerate(noisy):
                moved = explain(method, perturbed, classes[keep]).flatten(1).double()
                distance = (original - moved).norm(dim=1) / norms
                finite = torch.isfinite(moved).all(dim=1)
                sensitivities[keep, sample] = torch.where(
                    finite, distance, torch.full_like(distance, float("nan"))
                )
    return SensitivityResult(_nanmax(sensitivities), sensitivities, cost, method_cost)


def _nanmax(values: torch.Tensor) -> torch.Tensor:
    """(B, N) -> (B,) largest non-NaN value of each row; NaN where a row is all NaN."""
    all_nan = torch.isnan(values).all(dim=1)
    largest = torch.where(torch.isnan(values), float("-inf"), values).amax(dim=1)
    return torch.where(all_nan, torch.full_like(largest, float("nan")), largest)


def image_seed(image: torch.Tensor, seed: int) -> int:
    """A generator seed from the image's bytes and `seed` (torch keeps 32 bits of CPU seeds)."""
    fingerprint = zlib.crc32(image.detach().cpu().float().numpy().tobytes())
    return (fingerprint + seed * _GOLDEN) % 2**32


def _check_options(n_samples: int, radius: float) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
    if not radius > 0:
        raise ValueError(f"the noise radius must be positive, got {radius!r}")
