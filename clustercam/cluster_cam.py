"""Cluster-CAM (Feng et al., arXiv 2302.01642), as reconstructed in docs/cluster-cam.md.

The paper's equations are not available; every uncertain choice is an argument here: channels
are clustered (by their raw maps, or their min-max scaled maps: where they fire), each cluster's
mean map masks the image once, and the clusters that help the class (cognition-base) minus those
that hurt it (cognition-scissors) give the map. The defaults (k-means++ with 4 seeded restarts on
the channels' raw maps, scores against the blank image) are the ones the declared rule of
docs/cluster-cam.md chose; configs/method/clustercam.yaml repeats them (a test keeps the two
equal). Default cost: 1 + K forward passes, no backward pass, and one blank image per model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from clustercam.cam_method import CAMMethod, check_choice, check_count
from clustercam.clustering import (
    ALGORITHMS,
    INITS,
    SELECTS,
    Algorithm,
    Init,
    Select,
    cluster_channels,
    kmeans,
)
from clustercam.map_ops import blur, is_constant, minmax_normalize
from clustercam.scoring import class_scores

Features = Literal["normalized", "raw"]
Score = Literal["masked", "blur_gain"]
Cognition = Literal["centered", "baseline", "extremes", "weighted"]
COGNITIONS: tuple[str, ...] = ("centered", "baseline", "extremes", "weighted")
ClusterPrecision = Literal["float32", "float64"]
PRECISIONS: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


class ClusterCAM(CAMMethod):
    """Cluster-weighted CAM: K masked forward passes instead of Score-CAM's C.

    Args:
        n_clusters: K, the number of channel clusters (capped per image at the number of distinct
            non-constant channels).
        clustering: `kmeans` (batched, in torch, on the activations' device), or scikit-learn's
            `kmeans_sklearn`, `agglomerative` or `spectral` (on the CPU, one image at a time).
        features: cluster channels by their min-max normalised maps (where they fire) or raw maps.
        score: `masked`, s_k = p_c(x * m_k); `blur_gain`, p_c(x m_k + blur(x)(1 - m_k)) -
            p_c(blur(x)), one more forward per image.
        cognition: `centered`, d_k = s_k - mean(s); `baseline`, d_k = s_k - p_c(blank image), the
            blank image scored once per model (setup cost); `extremes`, best cluster minus worst;
            `weighted`, d_k = s_k (each cluster weighted by its own score, no scissors: the map
            moves continuously with the scores and is never all zero).
        lam: weight of the cognition-scissors.
        seed: random state of the clustering.
        n_init: k-means restarts (run batched); the one with the least inertia is kept.
        init: `k-means++` (random, seeded) or `farthest` (deterministic farthest-point seeding
            from the highest-energy channel; one run, n_init is ignored).
        select: keep the k-means restart of least inertia, or the `consensus` one (the partition
            most similar to all the other restarts').
        cluster_precision: float type the k-means runs in (`float64` makes its choices depend
            less on the last bits of the activations, e.g. CPU against GPU).
        max_iter, tol: k-means stopping rule (scikit-learn's meaning of tol).
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module,
        n_clusters: int = 8,
        clustering: Algorithm = "kmeans",
        features: Features = "raw",
        score: Score = "masked",
        cognition: Cognition = "baseline",
        lam: float = 1.0,
        seed: int = 0,
        n_init: int = 4,
        init: Init = "k-means++",
        select: Select = "inertia",
        cluster_precision: ClusterPrecision = "float32",
        max_iter: int = 300,
        tol: float = 1e-4,
        blur_kernel: int = 51,
        blur_sigma: float = 50.0,
        chunk_size: int = 64,
    ) -> None:
        super().__init__(model, target_layer, chunk_size)
        check_count("n_clusters (K)", n_clusters)
        check_choice("clustering", clustering, ALGORITHMS)
        check_choice("init", init, INITS)
        check_choice("select", select, SELECTS)
        check_choice("cluster_precision", cluster_precision, tuple(PRECISIONS))
        if n_init < 1 or max_iter < 1 or tol < 0:
            raise ValueError(
                f"n_init and max_iter must be >= 1 and tol >= 0, got {n_init}, {max_iter}, {tol}"
            )
        check_choice("features", features, ("normalized", "raw"))
        check_choice("score", score, ("masked", "blur_gain"))
        check_choice("cognition", cognition, COGNITIONS)
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
        self.init = init
        self.select = select
        self.cluster_precision = cluster_precision
        self.max_iter = max_iter
        self.tol = tol
        self.blur_kernel = blur_kernel
        self.blur_sigma = blur_sigma
        self.blank_probabilities: torch.Tensor | None = None

    def prepare(self, images: torch.Tensor) -> None:
        if self.cognition == "baseline":
            with torch.no_grad():
                blank = torch.zeros_like(images[:1])
                self.blank_probabilities = self.model(blank).float().softmax(1)[0]

    def cluster_means(self, activations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, h, w) activations -> the (B, K, h, w) mean map of each channel cluster and the
        (B, K) clusters found: an image's K_b <= K non-empty clusters are 0..K_b-1, the others'
        maps are 0.

        Constant channels are left out.
        """
        maps = activations.float()
        labels = self.channel_labels(maps)
        valid = labels >= 0
        members = torch.nn.functional.one_hot(labels.clamp(min=0), self.n_clusters).to(maps.dtype)
        members = members * valid[..., None]
        counts = members.sum(1)  # (B, K)
        means = torch.einsum("bck,bchw->bkhw", members, maps) / counts.clamp(min=1)[..., None, None]
        return means, counts > 0

    def channel_labels(self, activations: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) activations -> (B, C) cluster labels, -1 on constant channels.

        Each channel is one sample: its own h x w map, min-max scaled on its own with
        `features=normalized` (so channels group by where they fire, not how strongly).
        """
        n_channels = activations.shape[1]
        if self.n_clusters > n_channels:
            raise ValueError(
                f"n_clusters={self.n_clusters} exceeds the {n_channels} channels of the "
                "target layer; choose K <= the channel count"
            )
        features = activations.float().flatten(2)  # (B, C, h*w): one sample per channel
        valid = ~is_constant(features, over=-1)
        if self.features == "normalized":
            features = minmax_normalize(features, over=-1)
        return self.cluster_labels(features, valid)

    def cluster_labels(self, features: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, C) contiguous cluster labels of the valid channels, -1 on the others."""
        if self.clustering == "kmeans":
            return kmeans(
                features.to(PRECISIONS[self.cluster_precision]), self.n_clusters, valid,
                n_init=self.n_init, seed=self.seed, max_iter=self.max_iter, tol=self.tol,
                init=self.init, select=self.select,
            ).labels
        labels = torch.full(valid.shape, -1, dtype=torch.long)
        for image, (image_features, image_valid) in enumerate(zip(features.cpu(), valid.cpu())):
            if image_valid.any():
                labels[image, image_valid] = torch.from_numpy(cluster_channels(
                    image_features[image_valid].numpy(), self.n_clusters, self.clustering,
                    self.seed, self.n_init,
                ))
        return labels.to(features.device)

    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        means, found = self.cluster_means(activations.detach())
        n_found = found.sum(1).tolist()  # the host lays out the masked images: a sync
        cluster_maps = [image_means[:n] for image_means, n in zip(means, n_found)]
        substrate = None
        if self.score == "blur_gain":
            substrate = blur(images, self.blur_kernel, self.blur_sigma)
        scores = self.score_table(self.score_masks(images, cluster_maps, classes, substrate), found)
        if substrate is not None:
            blurred = class_scores(
                self.model, len(images), lambda start, stop: substrate[start:stop], classes,
                self.chunk_size,
            )
            scores = scores - blurred[:, None]
        return self.combine(means, scores, found, classes)

    @staticmethod
    def score_table(scores: Sequence[torch.Tensor], found: torch.Tensor) -> torch.Tensor:
        """Per image b, the (K_b,) scores of its clusters -> (B, K) scores, 0 where `found`
        (B, K) says a cluster does not exist, as `combine` takes them."""
        flat = torch.cat(list(scores))
        return flat.new_zeros(found.shape).masked_scatter_(found, flat)

    def combine(
        self, maps: torch.Tensor, scores: torch.Tensor, found: torch.Tensor, classes: torch.Tensor
    ) -> torch.Tensor:
        """Cognition-base minus lambda times cognition-scissors, ReLU'd, at the maps' resolution.

        `maps` (B, K, h, w), `scores` (B, K), `found` (B, K) the clusters that exist (the others
        are ignored), `classes` (B,) -> (B, h, w). All images at once: on a GPU a loop over images
        would cost a dozen kernel launches each. Upsampling is linear, so weighting the
        low-resolution maps equals weighting Up(M_k).
        """
        if self.cognition == "extremes":
            best = scores.masked_fill(~found, -torch.inf).argmax(1)
            worst = scores.masked_fill(~found, torch.inf).argmin(1)
            rows = torch.arange(len(maps), device=maps.device)
            base, scissors = maps[rows, best], maps[rows, worst]
        else:
            if self.cognition == "centered":
                n_found = found.sum(1, keepdim=True).clamp(min=1)
                reference = scores.masked_fill(~found, 0).sum(1, keepdim=True) / n_found
            elif self.cognition == "weighted":
                reference = scores.new_zeros(len(scores), 1)
            else:
                # prepare() set it: cognition is "baseline" here.
                reference = self.blank_probabilities.index_select(0, classes)[:, None]  # type: ignore[union-attr]
            gain = (scores - reference).masked_fill(~found, 0)
            base = torch.einsum("bk,bkhw->bhw", gain.clamp(min=0), maps)
            scissors = torch.einsum("bk,bkhw->bhw", (-gain).clamp(min=0), maps)
        return torch.relu(base - self.lam * scissors)
