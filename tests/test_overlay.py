"""clustercam.overlay: a map drawn over its image, checked against numbers computed here."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest
import torch
from PIL import Image

from clustercam import overlay

PIXELS = np.random.default_rng(0).integers(0, 255, (6, 8, 3), dtype=np.uint8)


def test_alpha_blends_the_image_and_the_coloured_map() -> None:
    saliency = np.arange(48, dtype=float).reshape(6, 8) * 3 + 5  # any range: min-max scaled
    colours = mpl.colormaps["jet"]((saliency - 5) / 141)[..., :3]
    image = PIXELS / 255
    assert np.allclose(overlay(PIXELS, saliency, alpha=0), image)
    assert np.allclose(overlay(PIXELS, saliency, alpha=1), colours)
    assert np.allclose(overlay(PIXELS, saliency, alpha=0.3), 0.7 * image + 0.3 * colours)


def test_every_image_type_gives_the_same_picture() -> None:
    saliency = torch.rand(3, 4)  # smaller than the image: resized to it
    expected = overlay(PIXELS, saliency)
    assert expected.shape == (6, 8, 3) and expected.min() >= 0 and expected.max() <= 1
    assert np.allclose(overlay(Image.fromarray(PIXELS), saliency), expected)
    assert np.allclose(overlay(PIXELS / 255, saliency.numpy()), expected)
    tensor = torch.from_numpy(PIXELS).permute(2, 0, 1).float() / 255
    assert np.allclose(overlay(tensor, saliency), expected)


def test_a_constant_map_colours_every_pixel_as_its_minimum() -> None:
    flat = overlay(PIXELS, np.full((6, 8), 7.0), alpha=1)
    assert np.allclose(flat, mpl.colormaps["jet"](0.0)[:3])


@pytest.mark.parametrize(
    "image, saliency, alpha, message",
    [
        (PIXELS, np.zeros((2, 6, 8)), 0.5, "one h x w map"),
        (PIXELS, np.zeros((6, 8)), 1.5, r"alpha must be in \[0, 1\]"),
        (PIXELS * 2.0, np.zeros((6, 8)), 0.5, r"values in \[0, 1\]"),
        (PIXELS[..., :2], np.zeros((6, 8)), 0.5, "H x W x 3"),
    ],
)
def test_bad_inputs_are_refused(
    image: np.ndarray, saliency: np.ndarray, alpha: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        overlay(image, saliency, alpha=alpha)
