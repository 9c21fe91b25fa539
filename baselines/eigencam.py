"""Eigen-CAM (Muhammad & Yeasin 2020): the activations' first principal component, no gradients."""

from __future__ import annotations

import torch
from torch import nn

from clustercam.cam_method import CAMMethod


class EigenCAM(CAMMethod):
    """L = ReLU(A' v_1), A' the (h*w, C) activation matrix and v_1 its first right singular vector.

    One forward pass, no backward, class-agnostic (the target class changes nothing). `center`
    subtracts each channel's spatial mean before the SVD, as pytorch-grad-cam does; the paper
    projects the raw activations (`center=False`). An SVD fixes v_1 only up to sign, so the sign is
    chosen to make the projection correlate positively with the channel sum of the activations
    (pytorch-grad-cam leaves it to LAPACK, so its map can be the ReLU of the flipped projection).
    The SVD runs in float64, one matrix per image, so a map never depends on the batch.
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module,
        center: bool = True,
        chunk_size: int = 64,
    ) -> None:
        super().__init__(model, target_layer, chunk_size)
        self.center = center

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
        if self.center:
            matrices = matrices - matrices.mean(dim=1, keepdim=True)
        maps = []
        for matrix, channel_sum in zip(matrices, activations.sum(dim=1).flatten(1)):
            _, _, right = torch.linalg.svd(matrix, full_matrices=False)
            projection = matrix @ right[0]
            agreement = (projection - projection.mean()) @ (channel_sum - channel_sum.mean())
            maps.append(-projection if agreement < 0 else projection)
        return torch.relu(torch.stack(maps)).view(n_images, height, width)
