"""Tiny models with known outputs, shared by the tests. Keep each one small and closed-form."""

from __future__ import annotations

import time

import torch
from torch import nn

from baselines import GradCAM


class MeanSigmoidToy(nn.Module):
    """Two logits [gain * mean(x), 0], so p_0(x) = sigmoid(gain * mean(x)) and p_1 = 1 - p_0.

    The mean runs over all channels and pixels, in float64, so a test can recompute any score in
    plain Python.
    """

    def __init__(self, gain: float = 3.0) -> None:
        super().__init__()
        self.gain = gain

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        first = self.gain * images.double().mean(dim=(1, 2, 3))
        return torch.stack([first, torch.zeros_like(first)], dim=1)


class LinearToy(nn.Module):
    """Random fixed linear classifier on the flattened image: the class scores depend on every
    pixel differently. Each row is an elementwise product and one sum, so a result never depends
    on how many images share the batch.
    """

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int = 5, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        n_inputs = in_shape[0] * in_shape[1] * in_shape[2]
        self.weight = nn.Parameter(torch.randn(n_classes, n_inputs, generator=generator))
        self.bias = nn.Parameter(torch.randn(n_classes, generator=generator))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(1)
        return (flat[:, None, :] * self.weight[None]).sum(dim=-1) + self.bias


class LinearGapModel(nn.Module):
    """features = ReLU(1x1 conv(x)) (the target layer), logits = W @ spatial mean(features).

    d logit_c / d A_k = W[c, k] / (H W) everywhere, so Grad-CAM's map is known in closed form.
    """

    def __init__(self, conv_weight: torch.Tensor, head_weight: torch.Tensor) -> None:
        super().__init__()
        channels, in_channels = conv_weight.shape
        self.features = nn.Sequential(nn.Conv2d(in_channels, channels, 1, bias=False), nn.ReLU())
        self.features[0].weight.data = conv_weight[:, :, None, None].clone()
        self.head = nn.Linear(channels, len(head_weight), bias=False)
        self.head.weight.data = head_weight.clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


def region_masks(size: int, n_regions: int = 4) -> torch.Tensor:
    """(n_regions, size, size) indicators of the quadrants (or vertical bands if not 4)."""
    masks = torch.zeros(n_regions, size, size)
    if n_regions == 4:
        half = size // 2
        for k, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
            masks[k, r * half : (r + 1) * half, c * half : (c + 1) * half] = 1
    else:
        band = size // n_regions
        for k in range(n_regions):
            masks[k, :, k * band : (k + 1) * band] = 1
    return masks


class RegionModel(nn.Module):
    """Class 0's logit is `gain` times the mean grey level over one known region; class 1's is 0.

    The target layer `features` holds `copies` channels per quadrant (the grey image restricted to
    it, at different scales) and `dead` all-zero channels, so channels group by region by
    construction, constant-channel skipping shows in the forward count, and the logit is read off
    the features (Grad-CAM gets a gradient on the target region's channels only).
    """

    def __init__(
        self, size: int = 16, region: int = 0, copies: int = 3, dead: int = 2, gain: float = 20.0
    ) -> None:
        super().__init__()
        masks = region_masks(size)
        scales = torch.linspace(0.5, 2.0, copies)
        channel_masks = torch.cat(
            [torch.stack([m * s for s in scales]) for m in masks] + [torch.zeros(dead, size, size)]
        )
        readout = torch.zeros(len(channel_masks))
        readout[region * copies : (region + 1) * copies] = 1 / (
            copies * scales * masks[region].sum()
        )
        self.register_buffer("channel_masks", channel_masks)
        self.register_buffer("readout", readout)
        self.target_region = masks[region].bool()
        self.features = nn.Identity()
        self.gain = nn.Parameter(torch.tensor(gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x.mean(dim=1, keepdim=True) * self.channel_masks)
        logit = self.gain * torch.einsum("bchw,c->b", features, self.readout)
        return torch.stack([logit, torch.zeros_like(logit)], dim=1)


class TinyNet(nn.Module):
    """Seeded conv(3->8) ReLU conv(8->8) ReLU (`features`, the target layer) -> mean -> linear.

    1000 outputs, so ImageNet labels and class names apply; `delay` seconds of sleep per forward
    call make a run slow enough to be killed part way, at no CPU cost. With `max_batch`, a batch
    of more images raises torch.cuda.OutOfMemoryError, as a GPU that is too small would.
    """

    def __init__(
        self, n_classes: int = 1000, seed: int = 0, delay: float = 0.0, max_batch: int = 0
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()
        )
        self.head = nn.Linear(8, n_classes)
        generator = torch.Generator().manual_seed(seed)
        for parameter in self.parameters():
            parameter.data = torch.randn(parameter.shape, generator=generator) * 0.5
        self.delay = delay
        self.max_batch = max_batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.max_batch and len(x) > self.max_batch:
            raise torch.cuda.OutOfMemoryError(f"toy: {len(x)} images > max_batch {self.max_batch}")
        if self.delay:
            import time

            time.sleep(self.delay)
        return self.head(self.features(x).mean(dim=(2, 3)))


def tiny_zoo(
    name: str = "tiny",
    weights: str = "random",
    target_layer: str | None = None,
    device: str | torch.device = "cpu",
    size: int = 16,
    delay: float = 0.0,
    max_batch: int = 0,
):
    """TinyNet as a zoo entry (same arguments as clustercam.bench.zoo.load_model, which a config's
    `model._target_` can point here): images resized to size x size, target layer `features`."""
    from torchvision import transforms as T

    from clustercam.bench.zoo import ZooModel, imagenet_class_names

    transform = T.Compose([T.Resize((size, size)), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    model = TinyNet(delay=delay, max_batch=max_batch).eval().to(device)
    return ZooModel(name, model, target_layer or "features", transform, imagenet_class_names())



class SlowFirstGradCAM(GradCAM):
    """Grad-CAM whose first call sleeps `delay` seconds, like a GPU's one-time warm-up."""

    def __init__(self, *args, delay: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.delay = delay

    def saliency(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.delay:
            time.sleep(self.delay)
            self.delay = 0.0
        return super().saliency(*inputs)


# Colours the ColourNet toy tells apart, one ImageNet class each (classes 0..3).
COLOURS = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 1.0, 1.0))


class ColourNet(nn.Module):
    """Classifies a (3, H, W) image in [0, 1] by its mean colour: logit c (c < 4) is
    -`sharpness` times the squared distance to COLOURS[c]; the other 996 logits are -1000. A
    solid photo of a COLOURS entry is classified with probability ~1, mid grey with ~0.25."""

    def __init__(self, sharpness: float = 40.0) -> None:
        super().__init__()
        self.register_buffer("colours", torch.tensor(COLOURS))
        self.sharpness = nn.Parameter(torch.tensor(sharpness))
        self.features = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.features(x).mean(dim=(2, 3))  # (B, 3)
        distance = ((mean[:, None, :] - self.colours[None]) ** 2).sum(dim=-1)
        logits = torch.full((len(x), 1000), -1000.0, dtype=x.dtype, device=x.device)
        logits[:, : len(COLOURS)] = -self.sharpness * distance
        return logits


def colour_zoo(
    name: str = "colour",
    weights: str = "random",
    target_layer: str | None = None,
    device: str | torch.device = "cpu",
    size: int = 16,
):
    """ColourNet as a zoo entry (load_model's arguments): images resized to size x size, no
    normalisation, target layer `features`."""
    from torchvision import transforms as T

    from clustercam.bench.zoo import ZooModel, imagenet_class_names

    transform = T.Compose([T.Resize((size, size)), T.ToTensor()])
    model = ColourNet().eval().to(device)
    return ZooModel(name, model, target_layer or "features", transform, imagenet_class_names())
