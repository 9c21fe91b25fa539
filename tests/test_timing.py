"""The forward-pass floor (clustercam/bench/timing.py) on a toy model whose passes take known
times."""

from __future__ import annotations

import time

import pytest
import torch
from toys import TinyNet

from clustercam.bench import timing


class Scheduled(TinyNet):
    """TinyNet whose n-th forward sleeps `sleeps[n]` seconds and records the batch it saw."""

    def __init__(self, sleeps: list[float]) -> None:
        super().__init__(n_classes=4)
        self.sleeps = list(sleeps)
        self.batches: list[torch.Tensor] = []
        self.inference: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.sleeps[len(self.batches)])
        self.batches.append(x.clone())
        self.inference.append(torch.is_inference_mode_enabled())
        return super().forward(x)


def test_floor_is_the_fastest_timed_pass_per_image_after_an_untimed_warm_up() -> None:
    # The warm-up pass (first) is the fastest of all: counted, the floor would be ~0.
    model = Scheduled([0.0, 0.2, 0.06, 0.15])
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    floor = timing.floor_seconds(model, images, batch_size=4, repeats=3)
    assert len(model.batches) == 1 + 3 and all(model.inference)
    # Slept 0.06 s in the fastest timed pass, for 4 images; never as slow as the next one.
    assert 0.06 / 4 <= floor < 0.15 / 4
    # The batch is the images taken in turn: 0, 1, 2, 0.
    for batch in model.batches:
        assert torch.equal(batch, images[[0, 1, 2, 0]])


def test_floor_of_one_image_fills_the_batch_with_it_and_refuses_empty_work() -> None:
    model = Scheduled([0.0] * 3)
    image = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    assert timing.floor_seconds(model, image, batch_size=5, repeats=2) >= 0
    assert [len(batch) for batch in model.batches] == [5, 5, 5]
    assert torch.equal(model.batches[0], image.expand(5, -1, -1, -1))
    with pytest.raises(ValueError, match="at least one image"):
        timing.floor_seconds(model, image[:0], batch_size=5)
    with pytest.raises(ValueError, match="repeats >= 1"):
        timing.floor_seconds(model, image, batch_size=5, repeats=0)


def test_default_weights_of_the_speed_scripts() -> None:
    assert timing.default_weights("efficientnet_lite0") == "imagenet"
    assert timing.default_weights("resnet50") == "random"
