"""Grad-CAM++ (Chattopadhyay et al. 2018): pixel-weighted gradients, closed form for exp(logit)."""

from __future__ import annotations

import torch

from baselines.gradcam import GradCAM


class GradCAMPlusPlus(GradCAM):
    """alpha = g^2 / (2 g^2 + sum_ij A g^3); w_k = sum_ij alpha ReLU(g). 1 forward + 1 backward."""

    def channel_weights(self, gradients: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
        squared = gradients.pow(2)
        denominator = 2 * squared + (activations * gradients.pow(3)).sum(dim=(2, 3), keepdim=True)
        denominator = torch.where(denominator != 0, denominator, torch.ones_like(denominator))
        alpha = squared / denominator
        return (alpha * torch.relu(gradients)).sum(dim=(2, 3), keepdim=True)
