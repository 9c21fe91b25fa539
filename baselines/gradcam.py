"""Grad-CAM (Selvaraju et al. 2017): channel weights from the spatial mean of the gradient."""

from __future__ import annotations

import torch

from clustercam.cam_method import CAMMethod


class GradCAM(CAMMethod):
    """alpha_k = mean over space of d logit_c / d A_k;  L = norm(Up(ReLU(sum_k alpha_k A_k))).

    The gradient is taken with torch.autograd.grad on the hooked output tensor, which stays correct
    with in-place ReLUs (torchvision VGG), unlike module backward hooks. 1 forward + 1 backward.
    """

    needs_gradients = True

    def channel_weights(self, gradients: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
        return gradients.mean(dim=(2, 3), keepdim=True)

    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        target_logits = logits.gather(1, classes[:, None]).sum()
        (gradients,) = torch.autograd.grad(target_logits, activations)
        weights = self.channel_weights(gradients, activations)
        return torch.relu((weights * activations).sum(dim=1))
