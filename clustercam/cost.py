"""Cost accounting by wrapping the model, so no method can under-report what it spent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Cost:
    """Images pushed through the full network forward and backward, wall seconds, and tail
    passes: rows run only through the layers after a target layer (clustercam/tail.py)."""

    forward: float = 0.0
    backward: float = 0.0
    seconds: float = 0.0
    tail: float = 0.0

    def per_image(self, n_images: int) -> Cost:
        return Cost(
            self.forward / n_images,
            self.backward / n_images,
            self.seconds / n_images,
            self.tail / n_images,
        )

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.forward + other.forward,
            self.backward + other.backward,
            self.seconds + other.seconds,
            self.tail + other.tail,
        )


class CostCounter(nn.Module):
    """Wraps a classifier and counts every image that goes through it.

    A batch of 16 masked images counts 16 forward passes; a backward pass that reaches the logits
    of a batch of B images counts B backward passes (a tensor hook on the output sees it).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.forward_images = 0
        self.backward_images = 0
        self.tail_images = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n_images = images.shape[0]
        logits = self.model(images)  # counted once it succeeds: a pass that ran out of memory
        self.forward_images += n_images  # is retried (clustercam/scoring.py) and counted then
        if logits.requires_grad:
            logits.register_hook(lambda grad: self._count_backward(n_images))
        return logits

    def _count_backward(self, n_images: int) -> None:
        self.backward_images += n_images

    @contextmanager
    def measure(self) -> Iterator[Cost]:
        """Yields a Cost that holds what was spent inside the block once the block ends."""
        cost = Cost()
        device = next(self.model.parameters(), torch.empty(0)).device
        forward0, backward0 = self.forward_images, self.backward_images
        tail0 = self.tail_images
        _synchronize(device)
        start = time.perf_counter()
        try:
            yield cost
        finally:
            _synchronize(device)
            cost.seconds = time.perf_counter() - start
            cost.forward = self.forward_images - forward0
            cost.backward = self.backward_images - backward0
            cost.tail = self.tail_images - tail0


def counted(model: nn.Module) -> CostCounter:
    """The model itself if it is already counted, else a counter around it."""
    return model if isinstance(model, CostCounter) else CostCounter(model)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
