"""Map operations shared by every method and metric: upsampling, normalising, blurring."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.transforms.functional import gaussian_blur


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling (align_corners=False) of (N, h, w) maps to (N, *size)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def is_constant(maps: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (N,) bool: maps whose values are all equal (or that hold a NaN)."""
    flat = maps.flatten(1)
    spread = flat.amax(1) - flat.amin(1)
    return ~(spread > 0)


def minmax_normalize(maps: torch.Tensor) -> torch.Tensor:
    """Scales each of the (N, ...) maps to [0, 1]; constant maps become all zeros."""
    flat = maps.flatten(1)
    low = flat.amin(1, keepdim=True)
    spread = flat.amax(1, keepdim=True) - low
    safe = torch.where(spread > 0, spread, torch.ones_like(spread))
    normalized = torch.where(spread > 0, (flat - low) / safe, torch.zeros_like(flat))
    return normalized.view_as(maps)


def blur(images: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """Gaussian blur of (N, C, H, W) images with reflect padding (torchvision's)."""
    if kernel_size % 2 == 0 or kernel_size < 1:
        raise ValueError(f"blur kernel_size must be an odd positive integer, got {kernel_size}")
    if sigma <= 0:
        raise ValueError(f"blur sigma must be positive, got {sigma}")
    return gaussian_blur(images, kernel_size=[kernel_size, kernel_size], sigma=[sigma, sigma])
