"""Grouping the channels of activation tensors.

k-means runs in torch on the activations' device and clusters the channels of every image of a
batch at once, all restarts together, so a GPU never waits on the host; scikit-learn stays for the
agglomerative and spectral variants (and as `kmeans_sklearn`, for comparison).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from sklearn.cluster import AgglomerativeClustering, KMeans, SpectralClustering

Algorithm = Literal["kmeans", "kmeans_sklearn", "agglomerative", "spectral"]
ALGORITHMS: tuple[str, ...] = ("kmeans", "kmeans_sklearn", "agglomerative", "spectral")
Init = Literal["k-means++", "farthest"]
INITS: tuple[str, ...] = ("k-means++", "farthest")
Select = Literal["inertia", "consensus"]
SELECTS: tuple[str, ...] = ("inertia", "consensus")


@dataclass
class KMeansResult:
    """Per image b: labels (B, C) in 0..n_clusters[b]-1 (-1 on masked channels), the inertia of
    the kept restart (B,), and the number of non-empty clusters (B,)."""

    labels: torch.Tensor
    inertia: torch.Tensor
    n_clusters: torch.Tensor


def _squared_norms(points: torch.Tensor) -> torch.Tensor:
    """(B, C, d) -> (B, 1, C, 1): each point's squared norm, shaped for `_squared_distances`."""
    return points.pow(2).sum(-1)[:, None, :, None]


def _squared_distances(
    points: torch.Tensor, centres: torch.Tensor, points_sq: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, C, d) points, (B, R, K, d) centres -> (B, R, C, K) squared Euclidean distances.

    Through one matmul (deterministic on every device, unlike scatter-add), clamped at 0.
    `points_sq` (`_squared_norms(points)`) may be passed in by loops that reuse the same points.
    """
    cross = torch.einsum("bcd,brkd->brck", points, centres)
    if points_sq is None:
        points_sq = _squared_norms(points)
    centres_sq = centres.pow(2).sum(-1)[:, :, None, :]
    # points_sq - 2 * cross in one operation, to the bit (doubling is exact).
    return (points_sq.sub(cross, alpha=2) + centres_sq).clamp(min=0)


def _pick(points: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(B, C, d) points, (B, R, L) channel indices -> (B, R, L, d) those points."""
    n_images, n_restarts, n_picked = index.shape
    flat = index.reshape(n_images, -1, 1).expand(-1, -1, points.shape[-1])
    return points.gather(1, flat).view(n_images, n_restarts, n_picked, -1)


def _weighted_draw(weights: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draws: (B, R, C) non-negative weights, (R, L) uniforms in [0, 1) -> (B, R, L)
    indices, each of a channel with positive weight (rows with no weight give index 0)."""
    cumulative = weights.cumsum(-1)
    total = cumulative[..., -1:]
    targets = uniforms[None] * total
    index = torch.searchsorted(cumulative.contiguous(), targets.contiguous(), right=True)
    last_positive = (weights > 0).cumsum(-1).argmax(-1, keepdim=True)  # first index of the max
    return torch.minimum(index, last_positive)


def _init_centres(
    points: torch.Tensor,
    valid: torch.Tensor,
    n_clusters: int,
    n_init: int,
    init: Init,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, R, K, d) initial centres and (B, K) active flags.

    Greedy k-means++ (Arthur & Vassilvitskii 2007, with scikit-learn's 2 + log K local trials),
    or `farthest`: the highest-energy channel, then repeatedly the channel farthest from the
    chosen ones (no randomness at all). Only channels that differ from every chosen centre can be
    chosen, so centre j is active only if the image has more than j distinct valid channels; this
    caps K per image exactly.
    """
    n_images, n_channels, _ = points.shape
    device = points.device
    if init == "farthest":
        energy = points.pow(2).sum(-1).masked_fill(~valid, -1.0)
        first = energy.argmax(-1)[:, None, None].expand(n_images, n_init, 1)
    else:
        uniforms = torch.rand(n_init, 1, generator=generator, device=device, dtype=points.dtype)
        first = _weighted_draw(valid[:, None, :].to(points.dtype).expand(-1, n_init, -1), uniforms)
    chosen = _pick(points, first)  # (B, R, 1, d)
    centres = [chosen[:, :, 0]]  # each (B, R, d)
    duplicate = (points[:, None] == chosen).all(-1) | ~valid[:, None]  # (B, R, C)
    points_sq = _squared_norms(points)
    closest = _squared_distances(points, chosen, points_sq)[..., 0].masked_fill(~valid[:, None], 0)
    active = [torch.ones(n_images, dtype=torch.bool, device=device)]
    n_trials = 2 + int(math.log(n_clusters))
    tiny = torch.finfo(points.dtype).tiny
    for _ in range(1, n_clusters):
        # Distinct channels always keep some weight, even if their distance underflowed to 0.
        weights = torch.where(duplicate, 0.0, closest.clamp(min=tiny))
        if init == "farthest":
            candidates = weights.argmax(-1, keepdim=True)
        else:
            uniforms = torch.rand(
                n_init, n_trials, generator=generator, device=device, dtype=points.dtype
            )
            candidates = _weighted_draw(weights, uniforms)
        candidate_points = _pick(points, candidates)  # (B, R, L, d)
        to_candidates = _squared_distances(points, candidate_points, points_sq)  # (B, R, C, L)
        updated = torch.minimum(closest[..., None], to_candidates)
        potential = updated.masked_fill(~valid[:, None, :, None], 0).sum(2)  # (B, R, L)
        best = potential.argmin(-1, keepdim=True)  # (B, R, 1)
        new_centre = _pick(points, candidates.gather(-1, best))  # (B, R, 1, d)
        is_active = ~duplicate.all(-1)[:, 0]  # the same for every restart
        active.append(is_active)
        take = is_active[:, None, None]
        best_distances = updated.gather(-1, best[:, :, None].expand(-1, -1, n_channels, -1))
        closest = torch.where(take, best_distances[..., 0], closest)
        duplicate = duplicate | (take & (points[:, None] == new_centre).all(-1))
        centres.append(new_centre[:, :, 0])
    return torch.stack(centres, 2), torch.stack(active, 1)


def kmeans(
    features: torch.Tensor,
    n_clusters: int,
    valid: torch.Tensor | None = None,
    *,
    n_init: int = 4,
    seed: int = 0,
    max_iter: int = 300,
    tol: float = 1e-4,
    init: Init = "k-means++",
    select: Select = "inertia",
    check_every: int = 8,
) -> KMeansResult:
    """Lloyd's k-means of the channels of every image at once, on the features' device and dtype.

    `features` (B, C, d): one row per channel; `valid` (B, C) marks the channels to cluster (the
    others get label -1). The `n_init` restarts run batched and the one with the least inertia is
    kept. Random numbers come from a generator seeded with `seed` and are shared by the images of
    a batch, so an image's labels do not depend on which images share its batch. Each restart
    stops when its labels stop changing or its centres move less (squared, in total) than `tol`
    times the mean per-feature variance (scikit-learn's rule); the loop asks the host whether all
    restarts stopped only every `check_every` iterations. `select='consensus'` keeps instead the
    restart whose partition agrees most with all the others (pair-counting Fowlkes-Mallows
    similarity), the most typical local optimum rather than the deepest of near-equal ones.
    """
    if features.ndim != 3:
        raise ValueError(f"features must be (images, channels, dims), got {tuple(features.shape)}")
    if n_clusters < 1 or n_init < 1 or max_iter < 1 or check_every < 1:
        raise ValueError("n_clusters, n_init, max_iter and check_every must all be >= 1")
    if select not in SELECTS:
        raise ValueError(f"unknown k-means select {select!r}; choose one of {', '.join(SELECTS)}")
    if init not in INITS:
        raise ValueError(f"unknown k-means init {init!r}; choose one of {', '.join(INITS)}")
    if not features.is_floating_point():
        raise ValueError(f"features must be floating point, got {features.dtype}")
    n_images, n_channels, _ = features.shape
    device = features.device
    valid = (
        torch.ones(n_images, n_channels, dtype=torch.bool, device=device)
        if valid is None
        else valid.to(device=device, dtype=torch.bool)
    )
    if tuple(valid.shape) != (n_images, n_channels):
        raise ValueError(f"valid must be {(n_images, n_channels)}, got {tuple(valid.shape)}")
    points = features.masked_fill(~valid[..., None], 0)
    if init == "farthest":
        n_init = 1  # no randomness: every restart would be the same
    generator = torch.Generator(device=device).manual_seed(seed)
    centres, active = _init_centres(points, valid, n_clusters, n_init, init, generator)

    n_valid = valid.sum(1).clamp(min=1).to(points.dtype)
    mean = points.sum(1) / n_valid[:, None]
    variance = ((points - mean[:, None]).pow(2) * valid[..., None]).sum(1) / n_valid[:, None]
    threshold = (tol * variance.mean(-1))[:, None]  # (B, 1)
    # Every tensor the loop reuses is made once: on a GPU each operation is a kernel launch, and
    # the loop's time is mostly launches (docs/performance.md).
    inactive = ~active[:, None, None, :]  # (B, 1, 1, K)
    invalid = ~valid[:, None]  # (B, 1, C)
    mask = valid[:, None, :, None]
    cluster_ids = torch.arange(n_clusters, device=device)
    points_sq = _squared_norms(points)
    labels = torch.full((n_images, n_init, n_channels), -1, dtype=torch.long, device=device)
    done = torch.zeros(n_images, n_init, dtype=torch.bool, device=device)
    for iteration in range(max_iter):
        distances = _squared_distances(points, centres, points_sq).masked_fill(inactive, math.inf)
        own, new_labels = distances.min(-1)  # the first of equals, as argmin
        members = ((new_labels[..., None] == cluster_ids) & mask).to(points.dtype)
        counts = members.sum(2)  # (B, R, K)
        sums = torch.einsum("brck,bcd->brkd", members, points)
        updated = torch.where(counts[..., None] > 0, sums / counts.clamp(min=1)[..., None], centres)
        empty = (counts == 0) & active[:, None, :]
        updated = torch.where(empty[..., None], _relocated(points, own, empty, invalid), updated)
        shift = (updated - centres).pow(2).sum((-1, -2))
        settled = (new_labels == labels).all(-1) | (shift <= threshold)
        centres = torch.where(done[..., None, None], centres, updated)
        labels = torch.where(done[..., None], labels, new_labels)
        done = done | settled
        if (iteration + 1) % check_every == 0 and bool(done.all()):
            break

    distances = _squared_distances(points, centres, points_sq).masked_fill(inactive, math.inf)
    closest, labels = distances.min(-1)
    inertia = closest.masked_fill(~valid[:, None], 0).sum(-1)  # (B, R)
    best = inertia.argmin(-1) if select == "inertia" else _most_typical(labels, valid, n_clusters)
    rows = torch.arange(n_images, device=device)
    return _contiguous(labels[rows, best], valid, n_clusters, inertia[rows, best])


def _most_typical(labels: torch.Tensor, valid: torch.Tensor, n_clusters: int) -> torch.Tensor:
    """(B, R, C) labels of R restarts -> (B,) the restart with the highest summed Fowlkes-Mallows
    similarity to the others (first of equals)."""
    members = torch.nn.functional.one_hot(labels, n_clusters).to(torch.float64)
    members = members * valid[:, None, :, None]
    contingency = torch.einsum("brck,bscl->brskl", members, members)  # (B, R, R, K, K)
    together_both = contingency.pow(2).sum((-1, -2))
    sizes = members.sum(2).pow(2).sum(-1)  # (B, R): sum of squared cluster sizes
    similarity = together_both / (sizes[:, :, None] * sizes[:, None, :]).sqrt().clamp(min=1)
    return similarity.sum(-1).argmax(-1)


def _relocated(
    points: torch.Tensor, own: torch.Tensor, empty: torch.Tensor, invalid: torch.Tensor
) -> torch.Tensor:
    """(B, R, K, d): the j-th empty cluster moves onto the j-th channel farthest from its own
    centre, as scikit-learn does (rows of clusters that are not empty are to be ignored).

    `own` (B, R, C): each channel's squared distance to its centre; `empty` (B, R, K) the active
    clusters that lost every channel; `invalid` (B, 1, C) the channels not clustered.
    """
    own = own.masked_fill(invalid, -1.0)
    farthest = own.topk(min(empty.shape[-1], own.shape[-1]), dim=-1).indices  # (B, R, <=K)
    rank = (empty.cumsum(-1) - 1).clamp(min=0, max=farthest.shape[-1] - 1)
    return _pick(points, farthest.gather(-1, rank))


def _contiguous(
    labels: torch.Tensor, valid: torch.Tensor, n_clusters: int, inertia: torch.Tensor
) -> KMeansResult:
    """Renumbers each image's labels 0..K'-1 in order of first label value, -1 on masked ones."""
    members = torch.nn.functional.one_hot(labels, n_clusters) & valid[..., None]
    used = members.any(1)  # (B, K)
    new_id = used.long().cumsum(-1) - 1
    renumbered = new_id.gather(-1, labels).masked_fill(~valid, -1)
    return KMeansResult(renumbered, inertia, used.sum(-1))


def cluster_channels(
    features: np.ndarray, n_clusters: int, algorithm: Algorithm, seed: int, n_init: int = 4
) -> np.ndarray:
    """Labels 0..K'-1 for the (C, d) channel features of one image, by scikit-learn.

    K is capped at the number of distinct rows (identical channels cannot be split), and labels are
    renumbered to be contiguous, so callers never see an empty cluster.
    """
    n_distinct = len(np.unique(features, axis=0))
    n_clusters = min(n_clusters, n_distinct)
    if n_clusters <= 1:
        return np.zeros(len(features), dtype=np.int64)
    if algorithm in ("kmeans", "kmeans_sklearn"):
        model = KMeans(n_clusters, init="k-means++", n_init=n_init, random_state=seed)
    elif algorithm == "agglomerative":
        model = AgglomerativeClustering(n_clusters)
    elif algorithm == "spectral":
        model = SpectralClustering(n_clusters, random_state=seed, assign_labels="cluster_qr")
    else:
        raise ValueError(f"unknown clustering {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    labels = model.fit_predict(features.astype(np.float64))
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)
