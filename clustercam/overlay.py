"""A saliency map drawn over its image, as pytorch-grad-cam's `show_cam_on_image` and torchcam's
`overlay_mask` do: the map min-max scaled, resized to the image, coloured, and blended.

    from clustercam import overlay
    picture = overlay(photo, explanation.maps[0])   # H x W x 3 floats in [0, 1]
    plt.imshow(picture)

The blend is (1 - alpha) * image + alpha * colormap(map), with matplotlib's colormaps (torchcam's
choice; pytorch-grad-cam's OpenCV JET differs from matplotlib's `jet` by a few levels).
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ImageLike = Image.Image | np.ndarray | torch.Tensor


def overlay(
    image: ImageLike, saliency: np.ndarray | torch.Tensor, alpha: float = 0.5, colormap: str = "jet"
) -> np.ndarray:
    """`saliency` (h x w, any range) coloured over `image` (a PIL image, an H x W x 3 array of
    uint8 or of floats in [0, 1], or a 3 x H x W tensor in [0, 1]); returns H x W x 3 floats in
    [0, 1]. The map is min-max scaled (a constant map is all zeros) and resized bilinearly to the
    image. `alpha` is the map's weight: 0 gives the image, 1 the coloured map."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    picture = _rgb(image)
    values = torch.as_tensor(np.asarray(saliency, dtype=np.float64))
    if values.ndim != 2:
        raise ValueError(f"saliency must be one h x w map, got shape {tuple(values.shape)}")
    if values.shape != picture.shape[:2]:
        values = F.interpolate(
            values[None, None], size=picture.shape[:2], mode="bilinear", align_corners=False
        )[0, 0]
    low, high = values.min(), values.max()
    scaled = (values - low) / (high - low) if high > low else torch.zeros_like(values)
    colours = mpl.colormaps[colormap](scaled.numpy())[..., :3]
    return (1 - alpha) * picture + alpha * colours


def _rgb(image: ImageLike) -> np.ndarray:
    """H x W x 3 floats in [0, 1] from any of the image types `overlay` takes."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.float64) / 255
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] not in (1, 3):
            raise ValueError(f"a tensor image must be C x H x W, got {tuple(image.shape)}")
        image = image.detach().float().cpu().expand(3, -1, -1).permute(1, 2, 0).numpy()
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"an image must be H x W x 3, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float64) / 255
    array = array.astype(np.float64)
    if array.min() < 0 or array.max() > 1:
        raise ValueError("a float image must hold values in [0, 1] (or pass uint8 / PIL)")
    return array
