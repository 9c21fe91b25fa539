"""SS-CAM (Wang et al. 2020): Score-CAM whose channel scores are averaged over noisy masks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

from baselines.scorecam import ScoreCAM, Variant
from clustercam.cam_method import check_choice, check_count, mask_owners
from clustercam.map_ops import minmax_normalize, upsample
from clustercam.scoring import Output, class_scores

NoiseOn = Literal["mask", "input"]


class SSCAM(ScoreCAM):
    """w_k = mean over n_samples of p_c(x * (M_k + noise)), M_k = norm(Up(A_k)), noise ~ N(0,
    sigma^2) per pixel; the map is Score-CAM's, ReLU(sum_k w_k Up(A_k)).

    `noise_on="input"` is the paper's other variant, p_c((x + noise) * M_k). The noise of sample s
    of an image's j-th live channel is drawn from a generator seeded by (seed, j, s), so no map
    depends on batch or chunk size. Cost: 1 + n_samples x (non-constant channels) forward passes.
    The defaults n_samples=35, sigma=2 are torchcam's; torchcam's SSCAM also subtracts a baseline
    score and softmaxes the weights over channels (here `variant="channel_softmax"`, without the
    baseline, which the softmax cancels).
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module,
        n_samples: int = 35,
        sigma: float = 2.0,
        noise_on: NoiseOn = "mask",
        variant: Variant = "official",
        seed: int = 0,
        chunk_size: int = 64,
    ) -> None:
        super().__init__(model, target_layer, variant, chunk_size)
        check_count("n_samples", n_samples)
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        check_choice("noise_on", noise_on, ("mask", "input"))
        self.n_samples, self.sigma, self.noise_on, self.seed = n_samples, sigma, noise_on, seed

    def score_masks(
        self,
        images: torch.Tensor,
        maps: Sequence[torch.Tensor],
        classes: torch.Tensor,
        substrate: torch.Tensor | None = None,
        output: Output = "probability",
    ) -> list[torch.Tensor]:
        """Score-CAM's scores of each mask, each the mean over `n_samples` noisy copies.

        Copy s of image b's j-th live channel uses the noise draw (j, s) whatever b, so copies go
        through the model ordered by (j, s, b): each draw is made once per batch of images, not
        once per image (drawing every copy's noise, SS-CAM ran at 11x its forward floor on an H200).
        The masked images lie on zeros only: `substrate` is in the signature so that a positional
        call through the base's interface cannot bind it to `output`, and is refused.
        """
        if substrate is not None:
            raise ValueError("SS-CAM scores its masks on zeros only; it takes no substrate")
        counts = [len(m) for m in maps]
        owner = mask_owners(maps)
        position = torch.cat([torch.arange(n) for n in counts])
        flat_maps = torch.cat(list(maps)) if len(owner) else images.new_zeros(0, 1, 1)
        noise_shape = (1 if self.noise_on == "mask" else images.shape[1], *images.shape[-2:])
        mask_of = torch.arange(len(owner)).repeat_interleave(self.n_samples)  # copy -> mask
        sample_of = torch.arange(self.n_samples).repeat(len(owner))
        draw_of = position[mask_of] * self.n_samples + sample_of  # the noise draw (j, s) as j*S+s
        order = torch.argsort(draw_of, stable=True)

        def make_inputs(start: int, stop: int) -> torch.Tensor:
            copies = order[start:stop]
            mask_index = mask_of[copies]
            which = owner[mask_index].to(images.device)
            masks = upsample(flat_maps[mask_index].float(), images.shape[-2:])
            masks = minmax_normalize(masks, over=(-2, -1))
            draws, draw_index = torch.unique_consecutive(draw_of[copies], return_inverse=True)
            noise = torch.stack([
                self.noise(*divmod(int(draw), self.n_samples), noise_shape) for draw in draws
            ]).to(images.device)[draw_index.to(images.device)]
            if self.noise_on == "mask":
                return images[which] * (masks[:, None] + noise)
            return (images[which] + noise) * masks[:, None]

        copy_classes = classes[owner[mask_of[order]].to(classes.device)]
        in_order = class_scores(
            self.model, len(order), make_inputs, copy_classes, self.chunk_size, output
        )
        scores = torch.empty_like(in_order)
        scores[order.to(scores.device)] = in_order
        return list(scores.view(-1, self.n_samples).mean(dim=1).split(counts))

    def noise(self, position: int, sample: int, shape: tuple[int, ...]) -> torch.Tensor:
        """N(0, sigma^2) noise of one copy. NumPy's seed sequence mixes the whole key; torch's CPU
        generator would keep only the low 32 bits of a combined seed."""
        generator = np.random.default_rng([self.seed, position, sample])
        return self.sigma * torch.from_numpy(generator.standard_normal(shape, dtype=np.float32))
