"""CF-CAM and Opti-CAM: CF-CAM's clusters on planted channel groups, its weights assembled as
defined, Opti-CAM against a plain per-image loop of its definition, exact forward/backward counts,
batch- and chunk-size invariance, clear errors for bad options."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_methods import region_images
from torch import nn
from toys import RegionModel, TinyNet

from baselines import CFCAM, OptiCAM
from baselines.cfcam import NOISE, STRONG
from clustercam.map_ops import minmax_normalize, upsample


class IdentityGapModel(nn.Module):
    """The input is the target layer (`features`, identity); logits = W @ spatial mean(input)."""

    def __init__(self, head: torch.Tensor) -> None:
        super().__init__()
        self.features = nn.Identity()
        self.head = nn.Linear(head.shape[1], head.shape[0], bias=False)
        self.head.weight.data = head.clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


def planted_channels(seed: int = 0) -> tuple[torch.Tensor, list[list[int]]]:
    """(26, 4, 4) channels: 7 strong (norm ~ 10), three groups of 6 tight around their own
    pattern (norm ~ 1), one outlier (norm 3) far from every group; returns them and the groups.

    Of the 19 channels left to DBSCAN, 90 of the 342 ordered pairs lie within a group (26%), so
    the 25th percentile of the distances (eps) is a within-group distance."""
    generator = torch.Generator().manual_seed(seed)
    pattern = lambda: torch.randn(16, generator=generator).double()  # noqa: E731
    strong = [10 * _unit(pattern()) for _ in range(7)]
    groups, channels = [], []
    for _ in range(3):
        centre = _unit(pattern())
        groups.append(list(range(len(channels), len(channels) + 6)))
        channels += [centre + 0.01 * pattern() for _ in range(6)]
    outlier = 3 * _unit(pattern())
    order = [*channels, outlier, *strong]  # groups 0..17, outlier 18, strong 19..25
    return torch.stack(order).view(26, 4, 4), groups


def _unit(vector: torch.Tensor) -> torch.Tensor:
    return vector / vector.norm()


def partition(labels: np.ndarray, members: list[int]) -> set[frozenset[int]]:
    return {
        frozenset(i for i in members if labels[i] == label)
        for label in set(labels[members].tolist())
    }


# --- CF-CAM --------------------------------------------------------------------------------------


def test_cfcam_clusters_are_the_planted_channel_groups():
    channels, groups = planted_channels()
    labels = CFCAM.channel_labels(channels)
    assert (labels[19:] == STRONG).all()
    assert labels[18] == NOISE
    assert (labels[:18] >= 0).all()
    assert partition(labels, list(range(18))) == {frozenset(g) for g in groups}


def test_cfcam_bilateral_mean_is_torchs_same_padding_correlation():
    """The filter as the authors' code runs it: F.conv2d(..., padding='same'), odd and even maps."""
    method = CFCAM(RegionModel(), "features", sigma_spatial=1.5, sigma_range=0.3)
    for shape in [(5, 5), (4, 6), (7, 2)]:
        gradient = torch.randn(shape, generator=torch.Generator().manual_seed(3)).double()
        rows = torch.arange(shape[0]).double() - shape[0] / 2
        cols = torch.arange(shape[1]).double() - shape[1] / 2
        kernel = torch.exp(-(rows[:, None] ** 2 + cols[None] ** 2) / (2 * 1.5**2))
        kernel = kernel * torch.exp(-((gradient - gradient.mean()) ** 2) / (2 * 0.3**2))
        kernel = kernel / (kernel.sum() + 1e-6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns that even kernels need a padded copy
            expected = F.conv2d(gradient[None, None], kernel[None, None], padding="same").mean()
        torch.testing.assert_close(method.bilateral_mean(gradient), expected)


@pytest.mark.parametrize("weighting", ["softmax", "linear"])
def test_cfcam_map_combines_the_weights_as_defined(weighting):
    """On a GAP + linear head the gradient of channel k is W[c, k] / 16 everywhere: strong channels
    weigh that, cluster members the filtered mean of their cluster's gradient, noise nothing."""
    channels, groups = planted_channels()
    head = torch.randn(3, 26, generator=torch.Generator().manual_seed(4)).double()
    model = IdentityGapModel(head).double()
    method = CFCAM(model, "features", weighting=weighting)
    maps = method(channels[None], targets=[1]).maps[0]
    gradient = head[1] / 16
    weights = gradient.clone()
    for group in groups:
        constant = gradient[group].mean() * torch.ones(4, 4, dtype=torch.float64)
        weights[group] = method.bilateral_mean(constant)
    kept = [k for k in range(26) if k != 18]
    combined = weights[kept].softmax(0) if weighting == "softmax" else weights[kept]
    expected = torch.relu(torch.einsum("k,khw->hw", combined, channels[kept]))
    assert expected.max() > expected.min()
    torch.testing.assert_close(maps, minmax_normalize(expected, over=(-2, -1)).float())


def test_cfcam_costs_one_forward_and_one_backward():
    cost = CFCAM(TinyNet(n_classes=5), "features")(torch.randn(3, 3, 6, 6)).cost
    assert (cost.forward, cost.backward, cost.tail) == (1, 1, 0)


# --- Opti-CAM ------------------------------------------------------------------------------------


def opticam_by_definition(
    model: nn.Module, image: torch.Tensor, target: int, iterations: int, learning_rate: float
) -> torch.Tensor:
    """One image, plain torch, straight from the definition (the authors' defaults otherwise)."""
    with torch.no_grad():
        features = torch.relu(model.features(image[None]))[0]
    weights = torch.full((len(features),), 0.5, requires_grad=True)
    optimizer = torch.optim.Adam([weights], lr=learning_rate)
    for _ in range(iterations):
        saliency = (weights.softmax(0)[:, None, None] * features).sum(0)
        mask = upsample(saliency[None], image.shape[-2:])[0]
        mask = (mask - mask.min()) / (mask.max() - mask.min())
        loss = -model(image[None] * mask)[0, target]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    final = (weights.detach().softmax(0)[:, None, None] * features).sum(0)
    return minmax_normalize(upsample(final[None], image.shape[-2:]), over=(-2, -1))[0]


def test_opticam_equals_its_definition_image_by_image():
    model = TinyNet(n_classes=10).eval()
    images = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    explanation = OptiCAM(model, "features", iterations=7, learning_rate=0.05)(images, targets=4)
    for b, image in enumerate(images):
        expected = opticam_by_definition(model, image, 4, iterations=7, learning_rate=0.05)
        torch.testing.assert_close(explanation.maps[b], expected, atol=1e-5, rtol=0)


def test_opticam_raises_the_class_logit_of_the_masked_image():
    """On the region toy class 0 reads one quadrant: the optimised mask keeps more of it."""
    model = RegionModel()
    images = region_images()
    uniform = minmax_normalize(
        torch.relu(model.features(images.mean(1, keepdim=True) * model.channel_masks)).mean(1),
        over=(-2, -1),
    )
    optimised = OptiCAM(model, "features", iterations=20)(images, targets=0).maps
    before = model(images * uniform[:, None])[:, 0]
    after = model(images * optimised[:, None])[:, 0]
    assert (after > before + 0.1).all()


@pytest.mark.parametrize("chunk_size", [1, 2, 64])
def test_opticam_costs_one_forward_plus_one_forward_and_backward_per_iteration(chunk_size):
    model = TinyNet(n_classes=5)
    cost = OptiCAM(model, "features", iterations=6, chunk_size=chunk_size)(
        torch.randn(3, 3, 6, 6)
    ).cost
    assert (cost.forward, cost.backward, cost.tail) == (7, 6, 0)


# --- both ----------------------------------------------------------------------------------------


def test_bad_options_get_a_clear_message():
    model = RegionModel()
    with pytest.raises(ValueError, match="unknown weighting 'max'; choose one of softmax, linear"):
        CFCAM(model, "features", weighting="max")
    for value in (0.0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="sigma_spatial must be a finite number > 0"):
            CFCAM(model, "features", sigma_spatial=value)
        with pytest.raises(ValueError, match="sigma_range must be a finite number > 0"):
            CFCAM(model, "features", sigma_range=value)
        with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
            OptiCAM(model, "features", learning_rate=value)
    for iterations in (0, 2.5, True):
        with pytest.raises(ValueError, match="iterations must be an integer >= 1"):
            OptiCAM(model, "features", iterations=iterations)
