"""FEM (Fuad et al. 2020): the positions where channels respond beyond k standard deviations."""

from __future__ import annotations

import math

import torch
from torch import nn

from clustercam.cam_method import CAMMethod, check_choice

VARIANTS = ("paper", "pytorch_grad_cam")


class FEM(CAMMethod):
    """B_k = [A_k > mu_k + k sigma_k], mu_k and sigma_k channel k's spatial mean and (population)
    standard deviation (the k-sigma rule, k = 2).

    `variant="paper"` (the authors' reading, as in Xplique): L = sum_k mu_k B_k, the binary maps
    weighted by their channel's mean. `variant="pytorch_grad_cam"` (pytorch-grad-cam's `FEM`):
    L = ReLU(sum_k mean(B_k) A_k), the activations weighted by the share of their positions above
    the threshold. One forward pass, no gradients, class-agnostic (the target class changes
    nothing).
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module,
        k: float = 2.0,
        variant: str = "paper",
        chunk_size: int = 64,
    ) -> None:
        super().__init__(model, target_layer, chunk_size)
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k < 0:
            raise ValueError(f"k (the sigma multiple) must be a finite number >= 0, got {k!r}")
        check_choice("variant", variant, VARIANTS)
        self.k = k
        self.variant = variant

    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        activations = activations.detach().float()
        mean = activations.mean(dim=(2, 3), keepdim=True)
        std = activations.std(dim=(2, 3), keepdim=True, correction=0)
        binary = (activations > mean + self.k * std).float()
        if self.variant == "paper":
            return (mean * binary).sum(dim=1)
        return torch.relu((binary.mean(dim=(2, 3), keepdim=True) * activations).sum(dim=1))
