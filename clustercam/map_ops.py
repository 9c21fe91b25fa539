"""Map operations shared by every method and metric: upsampling, normalising, blurring.

Normalising and the constant-map test name the axes that make up one map (`over`), with no
default: a (B, C, h*w) tensor scaled "per map" once meant one scale per image where one per channel
was meant, and only the caller knows which it wants.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.transforms.functional import gaussian_blur

Axes = int | tuple[int, ...]


def upsample(maps: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear upsampling (align_corners=False) of (N, h, w) maps to (N, *size)."""
    if maps.dim() != 3:
        raise ValueError(f"upsample takes (N, h, w) maps, got shape {tuple(maps.shape)}")
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def is_constant(values: torch.Tensor, *, over: Axes) -> torch.Tensor:
    """Whether each map (the slice spanned by the axes `over`) is constant or holds a NaN; the
    result has those axes removed, e.g. (B, C, h, w) over (-2, -1) -> (B, C)."""
    spread = values.amax(over) - values.amin(over)
    return ~(spread > 0)


def minmax_normalize(values: torch.Tensor, *, over: Axes) -> torch.Tensor:
    """Scales each map (the slice spanned by the axes `over`) to [0, 1] on its own; constant maps
    become all zeros. (N, h, w) maps: over=(-2, -1); (B, C, h*w) channels: over=-1."""
    low = values.amin(over, keepdim=True)
    spread = values.amax(over, keepdim=True) - low
    safe = torch.where(spread > 0, spread, torch.ones_like(spread))
    return torch.where(spread > 0, (values - low) / safe, torch.zeros_like(values))


def blur(images: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """Gaussian blur of (N, C, H, W) images with reflect padding (torchvision's)."""
    if images.dim() != 4:
        raise ValueError(f"blur takes (N, C, H, W) images, got shape {tuple(images.shape)}")
    if kernel_size % 2 == 0 or kernel_size < 1:
        raise ValueError(f"blur kernel_size must be an odd positive integer, got {kernel_size}")
    if sigma <= 0:
        raise ValueError(f"blur sigma must be positive, got {sigma}")
    return gaussian_blur(images, kernel_size=[kernel_size, kernel_size], sigma=[sigma, sigma])
