"""Opti-CAM (Zhang et al. 2024): channel weights optimised so the masked image keeps the class."""

from __future__ import annotations

import math

import torch
from torch import nn
from tqdm.auto import tqdm

from clustercam.cam_method import CAMMethod, check_count
from clustercam.map_ops import minmax_normalize, upsample


class OptiCAM(CAMMethod):
    """S(u) = sum_k softmax(u)_k ReLU(A_k); u maximises the logit y_c(x * norm(Up(S(u)))).

    As the authors' code (`hanwei0912/OptiCAM`, `util.py`, with the defaults of
    `generate_opticam.py`) does it: u starts at 0.5 for every channel, Adam with
    `learning_rate` (0.1) runs `iterations` (50) steps on the loss sum_b (y_c(x_b) - y_c(x'_b)),
    norm is min-max over the image, and the map is S(u) after the last step. Their loop may also
    stop early when the batch's summed loss rises at a check; that makes one image's map depend on
    the others in its batch, so it is left out: every image takes exactly `iterations` steps.

    The images are optimised `chunk_size` at a time, each with its own weights (Adam is
    element-wise), so a map never depends on the batch. Cost: 1 + `iterations` forward passes and
    `iterations` backward passes per image.
    """

    needs_gradients = True

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module,
        iterations: int = 50,
        learning_rate: float = 0.1,
        chunk_size: int = 64,
    ) -> None:
        super().__init__(model, target_layer, chunk_size)
        check_count("iterations", iterations)
        if (
            isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float))
            or not math.isfinite(learning_rate) or learning_rate <= 0
        ):
            raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")
        self.iterations = iterations
        self.learning_rate = learning_rate

    def combine(self, weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """(B, h, w) maps S(u) from weights u (B, C) and features (B, C, h, w)."""
        return torch.einsum("bk,bkhw->bhw", weights.softmax(dim=1), features)

    def optimise(
        self, images: torch.Tensor, classes: torch.Tensor, features: torch.Tensor
    ) -> torch.Tensor:
        """The weights u (B, C) after `iterations` Adam steps, for one chunk of images."""
        weights = torch.full(features.shape[:2], 0.5, device=features.device, requires_grad=True)
        optimizer = torch.optim.Adam([weights], lr=self.learning_rate)
        with torch.enable_grad():
            for _ in range(self.iterations):
                masks = upsample(self.combine(weights, features), images.shape[-2:])
                masks = minmax_normalize(masks, over=(-2, -1))
                logits = self.model(images * masks[:, None])
                loss = -logits.gather(1, classes[:, None]).sum()
                (weights.grad,) = torch.autograd.grad(loss, weights)
                optimizer.step()
        return weights.detach()

    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        features = torch.relu(activations.detach().float())
        images = images.detach()
        maps = []
        for start in tqdm(range(0, len(images), self.chunk_size), desc="opti-cam", leave=False):
            stop = start + self.chunk_size
            weights = self.optimise(images[start:stop], classes[start:stop], features[start:stop])
            maps.append(self.combine(weights, features[start:stop]))
        return torch.cat(maps)
