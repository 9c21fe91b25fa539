"""Cluster-CAM (Feng et al., arXiv 2302.01642), as reconstructed in docs/cluster-cam.md.

The paper's equations are not available; every uncertain choice is an argument here:
channels are clustered by where they fire, each cluster's mean map masks the image once, and the
clusters that help the class more than average (cognition-base) minus those that help less
(cognition-scissors) give the map. Default cost: 1 + K forward passes, no backward pass.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from clustercam.base import CAMMethod
from clustercam.clustering import ALGORITHMS, Algorithm, cluster_channels
from clustercam.ops import blur, is_constant, minmax_normalize
from clustercam.scoring import class_scores

Features = Literal["normalized", "raw"]
Score = Literal["masked", "blur_gain"]
Cognition = Literal["centered", "baseline", "extremes"]


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


class ClusterCAM(CAMMethod):
    """Cluster-weighted CAM: K masked forward passes instead of Score-CAM's C.

    Args:
        n_clusters: K, the number of channel clusters (capped per image at the number of distinct
            non-constant channels).
        clustering: scikit-learn algorithm that groups the channels.
        features: cluster channels by their min-max normalised maps (where they fire) or raw maps.
        score: `masked`, s_k = p_c(x * m_k); `blur_gain`, p_c(x m_k + blur(x)(1 - m_k)) -
            p_c(blur(x)), one more forward per image.
        cognition: `centered`, d_k = s_k - mean(s); `baseline`, d_k = s_k - p_c(blank image), the
            blank image scored once per model (setup cost); `extremes`, best cluster minus worst.
        lam: weight of the cognition-scissors.
        seed: random state of the clustering.
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module,
        n_clusters: int = 8,
        clustering: Algorithm = "kmeans",
        features: Features = "normalized",
        score: Score = "masked",
        cognition: Cognition = "centered",
        lam: float = 1.0,
        seed: int = 0,
        n_init: int = 4,
        blur_kernel: int = 51,
        blur_sigma: float = 50.0,
        chunk_size: int = 64,
    ) -> None:
        super().__init__(model, target_layer, chunk_size)
        if isinstance(n_clusters, bool) or not isinstance(n_clusters, int) or n_clusters < 1:
            raise ValueError(f"n_clusters (K) must be an integer >= 1, got {n_clusters!r}")
        _check_choice("clustering", clustering, ALGORITHMS)
        _check_choice("features", features, ("normalized", "raw"))
        _check_choice("score", score, ("masked", "blur_gain"))
        _check_choice("cognition", cognition, ("centered", "baseline", "extremes"))
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        self.n_clusters = n_clusters
        self.clustering = clustering
        self.features = features
        self.score = score
        self.cognition = cognition
        self.lam = lam
        self.seed = seed
        self.n_init = n_init
        self.blur_kernel = blur_kernel
        self.blur_sigma = blur_sigma
        self.blank_probabilities: torch.Tensor | None = None

    def prepare(self, images: torch.Tensor) -> None:
        if self.cognition == "baseline":
            with torch.no_grad():
                blank = torch.zeros_like(images[:1])
                self.blank_probabilities = self.model(blank).float().softmax(1)[0]

    def cluster_maps(self, activations: torch.Tensor) -> torch.Tensor:
        """(C, h, w) activations of one image -> (K', h, w) mean map of each channel cluster."""
        if self.n_clusters > len(activations):
            raise ValueError(
                f"n_clusters={self.n_clusters} exceeds the {len(activations)} channels of the "
                "target layer; choose K <= the channel count"
            )
        active = activations[~is_constant(activations)].float()
        if len(active) == 0:
            return active
        features = minmax_normalize(active) if self.features == "normalized" else active
        labels = cluster_channels(
            features.flatten(1).cpu().numpy(), self.n_clusters, self.clustering, self.seed,
            self.n_init,
        )
        labels_t = torch.from_numpy(labels).to(active.device)
        n_found = int(labels.max()) + 1
        sums = torch.zeros(n_found, *active.shape[1:], device=active.device)
        sums.index_add_(0, labels_t, active)
        counts = torch.bincount(labels_t, minlength=n_found).float()
        return sums / counts[:, None, None]

    def saliency(self, images, classes, logits, activations):
        cluster_maps = [self.cluster_maps(a) for a in activations.detach()]
        substrate = None
        if self.score == "blur_gain":
            substrate = blur(images, self.blur_kernel, self.blur_sigma)
        scores = self.score_masks(images, cluster_maps, classes, substrate)
        if substrate is not None:
            blurred = class_scores(
                self.model, len(images), lambda start, stop: substrate[start:stop], classes,
                self.chunk_size,
            )
            scores = [s - b for s, b in zip(scores, blurred)]
        return torch.stack([self.combine(*args) for args in zip(cluster_maps, scores, classes)])

    def combine(self, maps: torch.Tensor, scores: torch.Tensor, target: torch.Tensor):
        """Cognition-base minus lambda times cognition-scissors, ReLU'd, at the maps' resolution.

        Upsampling is linear, so weighting the low-resolution maps equals weighting Up(M_k).
        """
        if len(maps) == 0:
            return maps.new_zeros(maps.shape[1:])
        if self.cognition == "extremes":
            base, scissors = maps[scores.argmax()], maps[scores.argmin()]
        else:
            if self.cognition == "centered":
                reference = scores.mean()
            else:
                reference = self.blank_probabilities[target]
            gain = scores - reference
            base = torch.einsum("k,khw->hw", gain.clamp(min=0), maps)
            scissors = torch.einsum("k,khw->hw", (-gain).clamp(min=0), maps)
        return torch.relu(base - self.lam * scissors)
