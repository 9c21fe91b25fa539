"""CF-CAM (arXiv 2504.00060): strong channels keep their gradient weight, the rest are clustered by
DBSCAN and share a filtered cluster gradient; noise channels are dropped."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import DBSCAN
from torch import nn

from clustercam.cam_method import CAMMethod, check_choice

WEIGHTINGS = ("softmax", "linear")
STRONG = -2  # the label of a channel kept on its own (norm in the top quarter)
NOISE = -1  # DBSCAN's label of a channel in no cluster


def _positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


class CFCAM(CAMMethod):
    """As the authors' code (`jerryp-hfut/CF-CAM`, `cfcam.py`) computes it, per image:

    1. channels whose L2 norm over space is >= the 75th percentile of the norms are *strong*:
       weight w_k = mean over space of d y_c / d A_k (Grad-CAM's);
    2. the other channels (flattened maps) are clustered by DBSCAN with eps = the 25th percentile
       of their pairwise Euclidean distances (floor 1e-5) and min_samples = max(2, int(0.05 n));
       channels DBSCAN calls noise are dropped;
    3. each cluster's mean gradient map g is bilateral-filtered (kernel = a Gaussian of the offset
       from the map centre, sigma_spatial, times exp(-(g - mean g)^2 / (2 sigma_range^2)),
       normalised to sum 1 (+1e-6), correlated with g at 'same' padding); every member channel
       gets weight mean(filtered g);
    4. `weighting="softmax"` (the code's): L = ReLU(sum_k softmax(w)_k A_k) over the kept
       channels; `"linear"`: L = ReLU(sum_k w_k A_k) (Grad-CAM's combination).

    Clustering runs in float64 on the CPU, one image at a time (scikit-learn's DBSCAN), so a map
    never depends on the batch. Cost: 1 forward + 1 backward.
    """

    needs_gradients = True

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module,
        weighting: str = "softmax",
        sigma_spatial: float = 5.0,
        sigma_range: float = 0.1,
        chunk_size: int = 64,
    ) -> None:
        super().__init__(model, target_layer, chunk_size)
        check_choice("weighting", weighting, WEIGHTINGS)
        _positive("sigma_spatial", sigma_spatial)
        _positive("sigma_range", sigma_range)
        self.weighting = weighting
        self.sigma_spatial = sigma_spatial
        self.sigma_range = sigma_range

    @staticmethod
    def channel_labels(activations: torch.Tensor) -> np.ndarray:
        """(C,) labels of one image's (C, h, w) channels: STRONG, NOISE or a cluster 0, 1, ..."""
        features = activations.detach().double().flatten(1).cpu().numpy()
        norms = np.linalg.norm(features, axis=1)
        strong = norms >= np.percentile(norms, 75)
        labels = np.full(len(features), STRONG)
        rest = np.flatnonzero(~strong)
        if len(rest):
            points = features[rest]
            distances = np.linalg.norm(points[:, None] - points[None], axis=2)
            off_diagonal = distances[~np.eye(len(rest), dtype=bool)]
            eps = max(float(np.percentile(off_diagonal, 25)), 1e-5) if len(rest) > 1 else 1e-5
            min_samples = max(2, int(len(rest) * 0.05))
            labels[rest] = DBSCAN(eps=eps, min_samples=min_samples).fit(points).labels_
        return labels

    def bilateral_mean(self, gradient: torch.Tensor) -> torch.Tensor:
        """mean over space of the bilateral-filtered (h, w) `gradient` (step 3)."""
        height, width = gradient.shape
        rows = torch.arange(height, dtype=gradient.dtype, device=gradient.device) - height / 2
        cols = torch.arange(width, dtype=gradient.dtype, device=gradient.device) - width / 2
        spatial = torch.exp(-(rows[:, None] ** 2 + cols[None] ** 2) / (2 * self.sigma_spatial**2))
        spread = torch.exp(-((gradient - gradient.mean()) ** 2) / (2 * self.sigma_range**2))
        kernel = spatial * spread
        kernel = kernel / (kernel.sum() + 1e-6)
        # 'same' padding as torch pads it (the extra row or column of an even kernel at the end).
        padding = (
            (width - 1) // 2, width - 1 - (width - 1) // 2,
            (height - 1) // 2, height - 1 - (height - 1) // 2,
        )
        padded = F.pad(gradient[None, None], padding)
        return F.conv2d(padded, kernel[None, None]).mean()

    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        (gradients,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), activations)
        maps = []
        for acts, grads in zip(activations.detach().double(), gradients.double()):
            labels = torch.as_tensor(self.channel_labels(acts), device=acts.device)
            weights = grads.mean(dim=(1, 2))
            for cluster in labels[labels >= 0].unique():
                members = labels == cluster
                weights[members] = self.bilateral_mean(grads[members].mean(dim=0))
            kept = labels != NOISE
            combined = weights[kept].softmax(0) if self.weighting == "softmax" else weights[kept]
            maps.append(torch.relu(torch.einsum("k,khw->hw", combined, acts[kept])))
        return torch.stack(maps)
