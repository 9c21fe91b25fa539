"""Group-CAM (Zhang et al. 2021): gradient-weighted channel groups scored on a blurred image."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from clustercam.cam_method import CAMMethod, check_choice, check_count
from clustercam.clustering import cluster_channels
from clustercam.map_ops import blur, is_constant, minmax_normalize, upsample
from clustercam.scoring import class_scores

Grouping = Literal["consecutive", "kmeans"]


class GroupCAM(CAMMethod):
    """L = ReLU(sum_g w_g norm(Up(M_g))), M_g = denoise(ReLU(sum_{k in g} alpha_k A_k)),
    w_g = p_c(x m_g + blur(x) (1 - m_g)) - p_c(blur(x)) with m_g = norm(Up(M_g)).

    alpha_k is Grad-CAM's mean gradient. Groups are runs of ceil(C / G) consecutive channels
    (torch.chunk, as the authors' code: fewer than G groups when G does not divide C, C groups
    when G > C) or, with grouping=kmeans, k-means clusters of the weighted channels (at most as
    many as there are distinct channels). Denoising keeps the values above the
    `denoise_percentile`-th percentile of each group map (the paper's 70; 0 zeroes only each
    map's minimum). Groups whose map is constant are skipped, as in the authors' code.
    Cost: 1 forward + 1 backward + (non-constant groups) + 1 (the blurred image) forward passes.
    """

    needs_gradients = True

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module,
        groups: int = 32,
        grouping: Grouping = "consecutive",
        denoise_percentile: float = 70.0,
        blur_kernel: int = 51,
        blur_sigma: float = 50.0,
        seed: int = 0,
        chunk_size: int = 64,
    ) -> None:
        super().__init__(model, target_layer, chunk_size)
        check_count("groups (G)", groups)
        check_choice("grouping", grouping, ("consecutive", "kmeans"))
        if not 0 <= denoise_percentile < 100:
            raise ValueError(f"denoise_percentile must be in [0, 100), got {denoise_percentile}")
        self.groups = groups
        self.grouping = grouping
        self.denoise_percentile = denoise_percentile
        self.blur_kernel = blur_kernel
        self.blur_sigma = blur_sigma
        self.seed = seed

    def group_maps(self, weighted: torch.Tensor) -> torch.Tensor:
        """(C, h, w) gradient-weighted channels of one image -> (G', h, w) denoised group maps."""
        if self.grouping == "consecutive":
            sums = torch.stack([chunk.sum(0) for chunk in weighted.chunk(self.groups)])
        else:
            labels = cluster_channels(
                weighted.flatten(1).cpu().double().numpy(), self.groups, "kmeans", self.seed
            )
            labels_t = torch.from_numpy(labels).to(weighted.device)
            sums = weighted.new_zeros(int(labels.max()) + 1, *weighted.shape[1:])
            sums.index_add_(0, labels_t, weighted)
        maps = torch.relu(sums)
        threshold = torch.quantile(maps.flatten(1), self.denoise_percentile / 100, dim=1)
        return torch.where(maps > threshold[:, None, None], maps, torch.zeros_like(maps))

    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        target_logits = logits.gather(1, classes[:, None]).sum()
        (gradients,) = torch.autograd.grad(target_logits, activations)
        weighted = (gradients.mean(dim=(2, 3), keepdim=True) * activations).detach().float()
        size = images.shape[-2:]
        group_maps = [
            maps[~is_constant(maps, over=(-2, -1))] for maps in map(self.group_maps, weighted)
        ]
        blurred = blur(images.detach(), self.blur_kernel, self.blur_sigma)
        scores = self.score_masks(images.detach(), group_maps, classes, substrate=blurred)
        baseline = class_scores(
            self.model, len(images), lambda start, stop: blurred[start:stop], classes,
            self.chunk_size,
        )
        saliency = [
            torch.einsum(
                "g,ghw->hw", gains - base, minmax_normalize(upsample(maps, size), over=(-2, -1))
            )
            if len(maps)
            else images.new_zeros(size)
            for maps, gains, base in zip(group_maps, scores, baseline)
        ]
        return torch.relu(torch.stack(saliency))
