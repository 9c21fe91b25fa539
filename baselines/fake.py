"""The `fake` sanity map: all ones but one pixel (Poppi et al., CVPR-W 2021).

Multiplied into the image (Average Drop, Increase in Confidence, Average Gain with continuous
masks), it leaves the image as it is but for one pixel, so p_c(x * L) is nearly p_c(x): Average
Drop near 0, the best possible, from a map that explains nothing. It exists to show that AD and
IC can be gamed; Sparseness, Complexity and ADCC's Complexity expose it (docs/metrics.md).
"""

from __future__ import annotations

import torch
from torch import nn

from clustercam.cam_method import CAMMethod


class FakeMap(CAMMethod):
    """Ones at input resolution, with 0 at pixel (`row`, `column`); negative indices count from
    the end. It costs the base class's one forward pass, like the other sanity maps."""

    def __init__(
        self, model: nn.Module, target_layer: str | nn.Module, row: int = 0, column: int = 0
    ) -> None:
        super().__init__(model, target_layer)
        self.row = row
        self.column = column

    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        height, width = images.shape[-2:]
        if not (-height <= self.row < height and -width <= self.column < width):
            raise ValueError(
                f"pixel ({self.row}, {self.column}) is outside the {height} x {width} images"
            )
        maps = torch.ones(len(images), height, width, device=images.device)
        maps[:, self.row, self.column] = 0.0
        return maps
