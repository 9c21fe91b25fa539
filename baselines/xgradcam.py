"""XGrad-CAM (Fu et al. 2020): gradients averaged with the activations as spatial weights."""

from __future__ import annotations

import torch

from baselines.gradcam import GradCAM


class XGradCAM(GradCAM):
    """w_k = sum_ij (A_k(i, j) / sum_ij A_k) dy_c/dA_k(i, j);  L = ReLU(sum_k w_k A_k).

    A channel whose activations sum to exactly 0 gets weight 0 (the paper leaves it undefined;
    pytorch-grad-cam adds 1e-7 to every sum instead, which gives the same map wherever the channel
    is zero everywhere, the only way a non-negative channel sums to 0). 1 forward + 1 backward.
    """

    def channel_weights(self, gradients: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
        sums = activations.sum(dim=(2, 3), keepdim=True)
        weighted = (activations * gradients).sum(dim=(2, 3), keepdim=True)
        safe = torch.where(sums != 0, sums, torch.ones_like(sums))
        return torch.where(sums != 0, weighted / safe, torch.zeros_like(weighted))
