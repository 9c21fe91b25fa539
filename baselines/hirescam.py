"""HiResCAM (Draelos & Carin 2020): the gradient times the activation, pixel by pixel."""

from __future__ import annotations

import torch

from baselines.gradcam import GradCAM


class HiResCAM(GradCAM):
    """L = ReLU(sum_k dy_c/dA_k ⊙ A_k): Grad-CAM without the spatial mean of the gradient.

    Where the gradient is constant over space (a global-average-pooled linear head) the map is
    Grad-CAM's. Same as pytorch-grad-cam's `HiResCAM`. 1 forward + 1 backward.
    """

    def channel_weights(self, gradients: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
        return gradients
