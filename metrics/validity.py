"""Which saliency maps a metric can score at all, and the input checks every metric shares.

A constant map ranks no pixel above another and a NaN map ranks nothing, yet scoring them would
still give an ordinary-looking number (pixel-index order for deletion, x * c for Average Drop) and
hide the method's failure. So every metric returns NaN for such images, spends no forward pass on
them, and the caller counts and reports them as skipped.
"""

from __future__ import annotations

import torch

from clustercam.map_ops import is_constant


def invalid_maps(maps: torch.Tensor) -> torch.Tensor:
    """(B, H, W) -> (B,) bool: maps that are constant or hold a NaN or an infinity."""
    if maps.ndim != 3:
        raise ValueError(f"maps must be a (B, H, W) batch, got shape {tuple(maps.shape)}")
    not_finite = ~torch.isfinite(maps.flatten(1)).all(dim=1)
    return is_constant(maps, over=(-2, -1)) | not_finite


def check_batch(
    images: torch.Tensor, maps: torch.Tensor, classes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Checks shapes; returns maps and classes (long) on the images' device."""
    if images.ndim != 4:
        raise ValueError(f"images must be a (B, C, H, W) batch, got shape {tuple(images.shape)}")
    n_images, _, height, width = images.shape
    if tuple(maps.shape) != (n_images, height, width):
        raise ValueError(
            f"maps must have shape {(n_images, height, width)} to match the images, "
            f"got {tuple(maps.shape)}"
        )
    return maps.to(images.device), check_per_image(classes, n_images, "classes", images).long()


def check_per_image(
    values: torch.Tensor, n_images: int, name: str, images: torch.Tensor
) -> torch.Tensor:
    """A (B,) tensor of one value per image, on the images' device."""
    values = torch.as_tensor(values, device=images.device).reshape(-1)
    if values.numel() != n_images:
        raise ValueError(f"{name} must hold one value per image ({n_images}), got {values.numel()}")
    return values
