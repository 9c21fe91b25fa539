"""Sanity baselines: maps that know nothing of the model. A metric that cannot tell them from real
methods is broken."""

from __future__ import annotations

import zlib

import torch
from torch import nn

from clustercam.cam_method import CAMMethod

_GOLDEN = 0x9E3779B1  # an odd constant: seeds 0, 1, 2, ... give distinct generator seeds


class RandomMap(CAMMethod):
    """I.i.d. uniform noise at input resolution, seeded by `seed` and the image's own bytes, so a
    map never depends on batch composition or on where a resumed run restarts."""

    def __init__(self, model: nn.Module, target_layer: str | nn.Module, seed: int = 0) -> None:
        super().__init__(model, target_layer)
        self.seed = seed

    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        maps = []
        for image in images:
            fingerprint = zlib.crc32(image.detach().cpu().float().numpy().tobytes())
            # torch's CPU generator keeps only the low 32 bits of a seed, so the seed is mixed in
            # there (seed 0 leaves the fingerprint as it is).
            generator = torch.Generator().manual_seed((fingerprint + self.seed * _GOLDEN) % 2**32)
            maps.append(torch.rand(image.shape[-2:], generator=generator))
        return torch.stack(maps).to(images.device)


class CenterMap(CAMMethod):
    """A centred Gaussian bump (sigma = `width` times the image side): the photographer's prior."""

    def __init__(
        self, model: nn.Module, target_layer: str | nn.Module, width: float = 0.25
    ) -> None:
        super().__init__(model, target_layer)
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        self.width = width

    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        height, width = images.shape[-2:]
        ys = (torch.arange(height, device=images.device) + 0.5) / height - 0.5
        xs = (torch.arange(width, device=images.device) + 0.5) / width - 0.5
        squared = ys[:, None] ** 2 + xs[None, :] ** 2
        bump = torch.exp(-squared / (2 * self.width**2))
        return bump.expand(len(images), height, width)
