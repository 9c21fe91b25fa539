"""Layer-CAM (Jiang et al. 2021): every pixel weighted by its own positive gradient."""

from __future__ import annotations

import torch

from baselines.gradcam import GradCAM


class LayerCAM(GradCAM):
    """L = ReLU(sum_k ReLU(d logit_c / d A_k(i, j)) A_k(i, j)). 1 forward + 1 backward.

    Grad-CAM with per-pixel weights instead of their spatial mean; same as pytorch-grad-cam's.
    """

    def channel_weights(self, gradients: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
        return torch.relu(gradients)
