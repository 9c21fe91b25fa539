"""ROAD (Rong et al., ICML 2022; docs/metrics.md): remove pixels, impute them, score p_c.

Removing pixels by setting them to a constant lets the model see the mask's shape: the removal
itself carries class information (Rong et al.'s "leak"). ROAD fills the removed pixels by noisy
linear imputation instead, so that what is left is a plausible image:
- each removed pixel is the weighted mean of its 8 neighbours (1/6 for the 4 direct, 1/12 for the
  4 diagonal ones; neighbours outside the image are left out and the weights renormalised), known
  neighbours entering as constants: one sparse linear system for all removed pixels of a mask,
  one right-hand side per channel; then Gaussian noise of std `noise` (0.01) is added to them.
- At a removed fraction q, MoRF (most relevant first) removes the pixels with L >= the
  (1 - q)-quantile of the map, LeRF (least relevant first) those with L <= the q-quantile
  (linear interpolation of the quantile, as numpy's default): pytorch-grad-cam's rule, under which
  ties at the threshold are removed together (so a map with large flat regions removes more than q).
  pytorch-grad-cam's `ROADMostRelevantFirst(p)` removes the fraction 1 - p / 100: its percentile
  p is ours 100 - p; its `ROADLeastRelevantFirst(p)` likewise.
The curves are p_c(imputed image) at each fraction (`percentiles`, in percent, default 10..90),
their AUCs the mean over the fractions (pytorch-grad-cam's average over thresholds). MoRF: lower
is better; LeRF: higher is better; combined = (LeRF AUC - MoRF AUC) / 2, higher is better: what
pytorch-grad-cam's `ROADCombined` reports (there the scores are differences to p_c(x), which
cancel in the combination).

Noise is drawn per image from a generator seeded by `seed` and the image's bytes (one field per
curve point), so a result never depends on the batch, and every method on an image meets the same
noise. The sparse solve runs on the CPU (scipy's SuperLU, one system per mask, factored with a
symmetric ordering and no pivoting); the imputed images go to the images' device for scoring.

Cost: 2 P forward passes per valid image (P fractions), through `class_scores` in chunks of
`chunk_size`; `imputation_seconds` is the time spent building and solving the systems, part of
what a counter's `measure()` around the call sees. Invalid maps (metrics.validity) give NaN and
cost nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import splu
from torch import nn

from clustercam.scoring import Output, class_scores
from metrics.robustness import image_seed
from metrics.validity import check_batch, invalid_maps

PERCENTILES: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 90)
NOISE = 0.01
ORDERING = "MMD_AT_PLUS_A"
# (row offset, column offset, weight) of the neighbours a removed pixel is the weighted mean of.
NEIGHBOURS: tuple[tuple[int, int, float], ...] = (
    (1, 1, 1 / 12), (0, 1, 1 / 6), (-1, 1, 1 / 12), (1, -1, 1 / 12),
    (0, -1, 1 / 6), (-1, -1, 1 / 12), (1, 0, 1 / 6), (-1, 0, 1 / 6),
)  # fmt: skip


@dataclass
class ROADResult:
    """Curves (B, P) of p_c after removing and imputing each fraction, their AUCs and the
    combined score (B,), float64, NaN rows for skipped maps; seconds spent imputing (batch)."""

    morf: torch.Tensor
    lerf: torch.Tensor
    morf_auc: torch.Tensor
    lerf_auc: torch.Tensor
    combined: torch.Tensor
    imputation_seconds: float

    @property
    def scored(self) -> torch.Tensor:
        return ~torch.isnan(self.combined)


def removal_masks(maps: torch.Tensor, percentiles: Sequence[float]) -> torch.Tensor:
    """(B, H, W) maps -> (B, 2, P, H, W) bool, True where removed: [:, 0] MoRF, [:, 1] LeRF."""
    fractions = _fractions(percentiles)
    flat = maps.flatten(1).double()

    def quantiles(at: list[float]) -> torch.Tensor:  # (B, P)
        return torch.quantile(flat, torch.tensor(at, dtype=flat.dtype, device=flat.device), dim=1).T

    upper = quantiles([(100 - p) / 100 for p in percentiles])  # MoRF's thresholds
    lower = quantiles(fractions)  # LeRF's
    morf = flat[:, None, :] >= upper[:, :, None]
    lerf = flat[:, None, :] <= lower[:, :, None]
    return torch.stack([morf, lerf], dim=1).view(len(maps), 2, len(fractions), *maps.shape[1:])


def impute(image: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """(C, H, W) image and (M, H, W) removal masks -> (M, C, H, W): each mask's removed pixels
    replaced by the linear imputation (no noise), the rest kept. Float64, on the CPU."""
    values = image.detach().double().cpu().numpy()
    masks = removed.cpu().numpy().astype(bool)
    return torch.from_numpy(np.stack([_impute_one(values, mask) for mask in masks]))


def _impute_one(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One mask's imputation: one sparse system, one right-hand side per channel. Solved mask by
    mask: a block-diagonal system of all masks of an image factors slower than its blocks."""
    channels, height, width = values.shape
    flat_values = values.reshape(channels, -1)
    result = flat_values.copy()
    unknown = np.flatnonzero(mask)
    if not len(unknown):
        return result.reshape(values.shape)
    variable = np.full(mask.size, -1)
    variable[unknown] = np.arange(len(unknown))
    row, column = np.divmod(unknown, width)
    diagonal = np.zeros(len(unknown))
    rhs = np.zeros((len(unknown), channels))
    rows, columns, weights = [], [], []
    for d_row, d_column, weight in NEIGHBOURS:
        r, c = row + d_row, column + d_column
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        diagonal[inside] -= weight
        neighbour = r[inside] * width + c[inside]
        is_unknown = variable[neighbour] >= 0
        equations = np.flatnonzero(inside)
        rows.append(equations[is_unknown])
        columns.append(variable[neighbour[is_unknown]])
        weights.append(np.full(int(is_unknown.sum()), weight))
        rhs[equations[~is_unknown]] -= weight * flat_values[:, neighbour[~is_unknown]].T
    everything = np.arange(len(unknown))
    system = sparse.csc_matrix(
        (
            np.concatenate([*weights, diagonal]),
            (np.concatenate([*rows, everything]), np.concatenate([*columns, everything])),
        ),
        shape=(len(unknown), len(unknown)),
    )
    # The system is symmetric (each neighbour pair has one weight) and diagonally dominant: a
    # symmetric ordering without pivoting keeps the factors sparse (SuperLU's default partial
    # pivoting fills them in: minutes per 224 x 224 mask instead of about a second).
    factors = splu(system, permc_spec=ORDERING, diag_pivot_thresh=0.0,
                   options={"SymmetricMode": True})  # fmt: skip
    result[:, unknown] = factors.solve(rhs).T
    return result.reshape(values.shape)


def road(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    classes: torch.Tensor,
    percentiles: Sequence[float] = PERCENTILES,
    noise: float = NOISE,
    seed: int = 0,
    chunk_size: int = 64,
    output: Output = "probability",
) -> ROADResult:
    """ROAD's MoRF and LeRF curves, AUCs and combined score of each image (module docstring).

    The model must be in eval mode; `output` scores probabilities (default) or logits.
    """
    maps, classes = check_batch(images, maps, classes)
    if noise < 0:
        raise ValueError(f"the imputation noise must be >= 0, got {noise!r}")
    n_images, n_points = len(images), 2 * len(_fractions(percentiles))
    keep = (~invalid_maps(maps)).nonzero()[:, 0].tolist()
    removed = removal_masks(maps[keep], percentiles) if keep else None
    start = time.perf_counter()
    imputed = []
    for position, index in enumerate(keep):
        assert removed is not None
        masks = removed[position].flatten(0, 1)
        filled = impute(images[index], masks)
        if noise:
            generator = torch.Generator().manual_seed(image_seed(images[index], seed))
            draws = torch.randn(filled.shape, generator=generator, dtype=torch.float64)
            filled = filled + noise * draws * masks.cpu()[:, None]
        imputed.append(filled.to(device=images.device, dtype=images.dtype))
    seconds = time.perf_counter() - start
    curves = torch.full(
        (n_images, n_points), float("nan"), dtype=torch.float64, device=images.device
    )
    if keep:
        inputs = torch.cat(imputed)
        index = torch.tensor(keep, device=images.device)
        scores = class_scores(
            model,
            len(inputs),
            lambda first, last: inputs[first:last],
            classes[index].repeat_interleave(n_points),
            chunk_size,
            output,
        )
        curves[index] = scores.view(len(keep), n_points).double()
    morf, lerf = curves[:, : n_points // 2], curves[:, n_points // 2 :]
    morf_auc, lerf_auc = morf.mean(dim=1), lerf.mean(dim=1)
    return ROADResult(morf, lerf, morf_auc, lerf_auc, (lerf_auc - morf_auc) / 2, seconds)


def _fractions(percentiles: Sequence[float]) -> list[float]:
    """Percent of removed pixels -> fractions, each strictly between 0 and 100 percent."""
    if not len(percentiles) or any(not 0 < p < 100 for p in percentiles):
        raise ValueError(
            f"ROAD's percentiles of removed pixels must be in (0, 100), got {list(percentiles)}"
        )
    return [p / 100 for p in percentiles]
