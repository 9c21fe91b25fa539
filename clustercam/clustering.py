"""Grouping the channels of one activation tensor: scikit-learn does the clustering."""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans, SpectralClustering

Algorithm = Literal["kmeans", "agglomerative", "spectral"]
ALGORITHMS: tuple[str, ...] = ("kmeans", "agglomerative", "spectral")


def cluster_channels(
    features: np.ndarray, n_clusters: int, algorithm: Algorithm, seed: int, n_init: int = 4
) -> np.ndarray:
    """Labels 0..K'-1 for the (C, d) channel features; K' = number of non-empty clusters.

    K is capped at the number of distinct rows (identical channels cannot be split), and labels are
    renumbered to be contiguous, so callers never see an empty cluster.
    """
    n_distinct = len(np.unique(features, axis=0))
    n_clusters = min(n_clusters, n_distinct)
    if n_clusters <= 1:
        return np.zeros(len(features), dtype=np.int64)
    if algorithm == "kmeans":
        model = KMeans(n_clusters, init="k-means++", n_init=n_init, random_state=seed)
    elif algorithm == "agglomerative":
        model = AgglomerativeClustering(n_clusters)
    elif algorithm == "spectral":
        model = SpectralClustering(n_clusters, random_state=seed, assign_labels="cluster_qr")
    else:
        raise ValueError(f"unknown clustering {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    labels = model.fit_predict(features.astype(np.float64))
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)
