"""Sparseness and Complexity of a map (docs/metrics.md): how concentrated it is; no forward pass.

Both read only the map's absolute values a = |L| over its n = H * W pixels:
- Sparseness (Chalasani et al., ICML 2020; Quantus `Sparseness`): the Gini index of a,
  G = sum_i (2 i - n - 1) a_(i) / (n sum_i a_i), with a_(1) <= ... <= a_(n) sorted ascending.
  One non-zero pixel gives (n - 1) / n, equal values give 0. Higher is sparser ("better").
- Complexity (Bhatt et al., IJCAI 2020; Quantus `Complexity`): the Shannon entropy (natural log)
  of p = a / sum a, with 0 log 0 = 0. One non-zero pixel gives 0, equal values give log(n).
  Lower is simpler ("better").

`gini` and `entropy` are the bare formulas on any (B, n) values. `sparseness` and `complexity`
apply the benchmark's policy for bad maps (metrics.validity): constant or non-finite maps give NaN,
and the caller counts them as skipped (`summarize_values`).

Quantus 0.6 divides the maps by their largest absolute value (over the whole batch) and, for
Sparseness only, adds 1e-7 to every value before the Gini index; that lowers the Gini index of
one non-zero pixel to (n - 1) / (n (1 + n 1e-7)), 0.5 % less on 224 x 224 maps. `epsilon=1e-7`
reproduces it for maps whose largest value is 1 (our maps are min-max normalised); the default 0
is the definition. Its Complexity adds 1e-12 inside the log only: below 1e-7 of difference.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from metrics.validity import invalid_maps

QUANTUS_SPARSENESS_EPSILON = 1e-7


def gini(values: torch.Tensor, epsilon: float = 0.0) -> torch.Tensor:
    """(B, n) non-negative values -> (B,) Gini index, in float64; `epsilon` is added first."""
    if values.ndim != 2:
        raise ValueError(f"gini takes (B, n) values, got shape {tuple(values.shape)}")
    n_values = values.shape[1]
    ordered = torch.sort(values.double() + epsilon, dim=1).values
    weights = 2 * torch.arange(1, n_values + 1, dtype=torch.float64, device=values.device)
    weights = weights - n_values - 1
    return (ordered * weights).sum(dim=1) / (n_values * ordered.sum(dim=1))


def entropy(values: torch.Tensor) -> torch.Tensor:
    """(B, n) non-negative values -> (B,) entropy of values / their sum (nats), 0 log 0 = 0."""
    if values.ndim != 2:
        raise ValueError(f"entropy takes (B, n) values, got shape {tuple(values.shape)}")
    share = values.double() / values.double().sum(dim=1, keepdim=True)
    return -torch.special.xlogy(share, share).sum(dim=1)


def sparseness(maps: torch.Tensor, epsilon: float = 0.0) -> torch.Tensor:
    """(B, H, W) maps -> (B,) Gini index of |L| / max |L|; NaN for invalid maps.

    `epsilon=QUANTUS_SPARSENESS_EPSILON` computes what Quantus 0.6's `Sparseness` does.
    """
    return _per_valid_map(maps, lambda values: gini(_by_max(values), epsilon))


def complexity(maps: torch.Tensor) -> torch.Tensor:
    """(B, H, W) maps -> (B,) entropy of |L| / sum |L| in nats; NaN for invalid maps."""
    return _per_valid_map(maps, entropy)


def summarize_values(values: torch.Tensor) -> tuple[float, int, int]:
    """Mean over the scored (non-NaN) images, the number scored and the number skipped."""
    scored = ~torch.isnan(values)
    n_scored = int(scored.sum())
    mean = float(values[scored].double().mean()) if n_scored else float("nan")
    return mean, n_scored, len(values) - n_scored


def _by_max(values: torch.Tensor) -> torch.Tensor:
    """Each row divided by its largest value (rows of valid maps are never all zero)."""
    return values / values.amax(dim=1, keepdim=True)


def _per_valid_map(
    maps: torch.Tensor, score: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """`score` of |L| (flattened) for the valid maps, NaN for the others."""
    keep = ~invalid_maps(maps)
    result = torch.full((len(maps),), float("nan"), dtype=torch.float64, device=maps.device)
    if bool(keep.any()):
        result[keep] = score(maps[keep].flatten(1).double().abs())
    return result
