"""SS-CAM's `score_masks` keeps the base's parameter order, so a call through the base interface
cannot bind a substrate to `output`; SS-CAM refuses a substrate rather than ignore it."""

from __future__ import annotations

import pytest
import torch
from toys import MeanSigmoidToy

from baselines import SSCAM


def test_sscam_refuses_a_substrate_passed_by_position() -> None:
    model = MeanSigmoidToy()
    images = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    maps = torch.rand(2, 2, 2, generator=torch.Generator().manual_seed(1))
    method = SSCAM(model, model, n_samples=2)
    with pytest.raises(ValueError, match="substrate"):
        method.score_masks(images, [maps], torch.tensor([0]), torch.zeros_like(images))


def test_sscam_output_by_keyword_still_chooses_logits() -> None:
    model = MeanSigmoidToy()
    images = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    maps = torch.rand(2, 2, 2, generator=torch.Generator().manual_seed(1))
    method = SSCAM(model, model, n_samples=2, sigma=0.0)
    (probabilities,) = method.score_masks(images, [maps], torch.tensor([0]))
    (logits,) = method.score_masks(images, [maps], torch.tensor([0]), output="logit")
    # Two logits [z, 0]: the probability of class 0 is sigmoid(z).
    torch.testing.assert_close(probabilities, torch.sigmoid(logits))
