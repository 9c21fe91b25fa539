"""Score-CAM (Wang et al. 2020): each channel's upsampled map masks the image once."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from clustercam.cam_method import CAMMethod
from clustercam.map_ops import is_constant, upsample
from clustercam.scoring import Output

Variant = Literal["official", "channel_softmax"]


class ScoreCAM(CAMMethod):
    """w_k = p_c(x * norm(Up(A_k))); L = norm(ReLU(sum_k w_k Up(A_k))).

    Constant channels are skipped (their mask carries no information), so the cost is 1 + the number
    of non-constant channels. Variant `channel_softmax` (pytorch-grad-cam's) uses the softmax over
    channels of the masked logits of c as weights.
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module,
        variant: Variant = "official",
        chunk_size: int = 64,
    ) -> None:
        super().__init__(model, target_layer, chunk_size)
        if variant not in ("official", "channel_softmax"):
            raise ValueError(
                f"unknown Score-CAM variant {variant!r}; choose official or channel_softmax"
            )
        self.variant = variant

    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        activations = activations.detach().float()
        active = [a[~is_constant(a, over=(-2, -1))] for a in activations]
        output: Output = "logit" if self.variant == "channel_softmax" else "probability"
        scores = self.score_masks(images, active, classes, output=output)
        maps = []
        for maps_k, weights in zip(active, scores):
            if self.variant == "channel_softmax":
                weights = weights.softmax(dim=0)
            weighted = torch.einsum("k,khw->hw", weights, maps_k)
            maps.append(torch.relu(upsample(weighted[None], images.shape[-2:])[0]))
        return torch.stack(maps)
