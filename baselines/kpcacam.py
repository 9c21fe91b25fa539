"""KPCA-CAM (Karmani et al. 2024): the first kernel principal component of the activations."""

from __future__ import annotations

import math

import torch
from torch import nn

from clustercam.cam_method import CAMMethod, check_choice

KERNELS = ("sigmoid", "rbf", "poly", "linear", "cosine")


class KPCACAM(CAMMethod):
    """L = ReLU(sqrt(lambda_1) v_1), v_1 the top eigenvector of the centred kernel matrix of the
    h*w feature vectors (each channel centred over space first, as pytorch-grad-cam does).

    Kernels as scikit-learn's KernelPCA (which pytorch-grad-cam's `KPCA_CAM` calls) defines them,
    with its defaults: sigmoid tanh(gamma <x, y> + 1) (the default), rbf exp(-gamma |x - y|^2),
    poly (gamma <x, y> + 1)^3, linear <x, y> and cosine; `gamma=None` means 1 / channels. A
    component's sign is arbitrary, so it is chosen to make the projection correlate positively with
    the channel sum (scikit-learn makes the largest entry of v_1 positive instead). Computed in
    float64, one image at a time, so a map never depends on the batch. One forward pass, no
    gradients, class-agnostic.
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module,
        kernel: str = "sigmoid",
        gamma: float | None = None,
        chunk_size: int = 64,
    ) -> None:
        super().__init__(model, target_layer, chunk_size)
        check_choice("kernel", kernel, KERNELS)
        if gamma is not None and (
            isinstance(gamma, bool) or not isinstance(gamma, (int, float))
            or not math.isfinite(gamma) or gamma <= 0
        ):
            raise ValueError(f"gamma must be a finite number > 0 or None, got {gamma!r}")
        self.kernel = kernel
        self.gamma = gamma

    def kernel_matrix(self, features: torch.Tensor) -> torch.Tensor:
        """(n, n) kernel of the rows of `features` (n, C)."""
        gamma = self.gamma if self.gamma is not None else 1.0 / features.shape[1]
        if self.kernel == "rbf":
            return torch.exp(-gamma * torch.cdist(features, features).pow(2))
        if self.kernel == "cosine":
            unit = features / features.norm(dim=1, keepdim=True).clamp_min(1e-300)
            return unit @ unit.T
        inner = features @ features.T
        if self.kernel == "sigmoid":
            return torch.tanh(gamma * inner + 1)
        if self.kernel == "poly":
            return (gamma * inner + 1).pow(3)
        return inner

    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        activations = torch.nan_to_num(activations.detach().double())
        n_images, _, height, width = activations.shape
        matrices = activations.flatten(2).transpose(1, 2)  # (B, h*w, C)
        matrices = matrices - matrices.mean(dim=1, keepdim=True)
        maps = []
        for matrix, channel_sum in zip(matrices, activations.sum(dim=1).flatten(1)):
            gram = self.kernel_matrix(matrix)
            gram = gram - gram.mean(0, keepdim=True) - gram.mean(1, keepdim=True) + gram.mean()
            values, vectors = torch.linalg.eigh(gram)  # ascending
            projection = vectors[:, -1] * values[-1].clamp_min(0).sqrt()
            agreement = (projection - projection.mean()) @ (channel_sum - channel_sum.mean())
            maps.append(-projection if agreement < 0 else projection)
        return torch.relu(torch.stack(maps)).view(n_images, height, width)
