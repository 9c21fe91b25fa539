"""Recipro-CAM (Byun & Lee 2022): each position of the target layer alone, scored by the tail."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from clustercam.cam_method import CAMMethod, check_choice
from clustercam.tail import tail_logits

KERNELS = ("point", "gaussian")


class ReciproCAM(CAMMethod):
    """S(i, j) = p_c(tail(A^(i, j))), A^(i, j) the target layer's activations kept at (i, j) only.

    `kernel="point"` (the paper's, and the authors' code's default): A^(i, j) holds the feature
    vector A[:, i, j] at (i, j) and zeros elsewhere. `kernel="gaussian"` (the authors' code's
    filtered variant): the same vector spread over the 3x3 neighbourhood of (i, j), weighted by
    [1 2 1]^T [1 2 1] / 16 and cut at the border (not renormalised). p_c is the softmax probability
    of the explained class. The h*w rows of each image run only through the layers after the
    target layer (tail passes, clustercam/tail.py), in chunks of `chunk_size` rows that may mix
    images. Cost: 1 forward pass + h*w tail passes (49 on a 7 x 7 layer), no backward.
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module,
        kernel: str = "point",
        chunk_size: int = 64,
    ) -> None:
        super().__init__(model, target_layer, chunk_size)
        check_choice("kernel", kernel, KERNELS)
        self.kernel = kernel

    def position_masks(
        self, height: int, width: int, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        """(h*w, h, w): mask p weights the feature vector of position p = i * w + j over the map."""
        points = torch.eye(height * width, device=device, dtype=dtype).view(-1, 1, height, width)
        if self.kernel == "point":
            return points[:, 0]
        taps = torch.tensor([1.0, 2.0, 1.0], device=device, dtype=dtype)
        gaussian = (taps[:, None] * taps[None, :] / 16)[None, None]
        return F.conv2d(points, gaussian, padding=1)[:, 0]

    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        activations = activations.detach()
        n_images, _, height, width = activations.shape
        positions = height * width
        device = activations.device
        masks = self.position_masks(height, width, device, activations.dtype)
        vectors = activations.flatten(2)  # (B, C, h*w): the feature vector of every position
        classes = classes.to(device)
        scores = torch.empty(n_images * positions, device=device)
        for start in tqdm(range(0, len(scores), self.chunk_size), desc="recipro", leave=False):
            stop = min(start + self.chunk_size, len(scores))
            rows = torch.arange(start, stop, device=device)
            owner, position = rows // positions, rows % positions
            kept = vectors[owner, :, position][:, :, None, None] * masks[position][:, None]
            probabilities = tail_logits(self.model, self.layer, kept, images).float().softmax(1)
            scores[start:stop] = probabilities.gather(1, classes[owner, None])[:, 0]
        return scores.view(n_images, height, width)
