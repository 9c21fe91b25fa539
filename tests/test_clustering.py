"""The batched torch k-means against scikit-learn's, and the properties Cluster-CAM relies on:
determinism per seed, batch invariance, masked channels ignored, K capped at distinct channels."""

from __future__ import annotations

import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from clustercam.clustering import _most_typical, _relocated, kmeans


def random_features(n_images: int, n_channels: int, dims: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n_images, n_channels, dims, generator=generator, dtype=torch.float64)


def blobs(n_per_blob: int = 20, n_blobs: int = 4, dims: int = 6, seed: int = 0):
    """Points around n_blobs centres 10 apart, spread 0.1, shuffled; returns points, blob ids."""
    generator = torch.Generator().manual_seed(seed)
    centres = 10 * torch.eye(n_blobs, dims, dtype=torch.float64)
    ids = torch.arange(n_blobs).repeat_interleave(n_per_blob)
    noise = torch.randn(len(ids), dims, generator=generator, dtype=torch.float64)
    points = centres[ids] + 0.1 * noise
    order = torch.randperm(len(ids), generator=generator)
    return points[order], ids[order]


def sklearn_inertia(points: torch.Tensor, n_clusters: int) -> float:
    return KMeans(n_clusters, n_init=10, random_state=0).fit(points.numpy()).inertia_


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inertia_within_one_percent_of_sklearn(dtype):
    for seed in range(3):
        features = random_features(2, 150, 12, seed)
        result = kmeans(features.to(dtype), 6, n_init=10, seed=seed)
        for b in range(2):
            ours = float(result.inertia[b])
            assert ours <= 1.01 * sklearn_inertia(features[b], 6)
            # the reported inertia is that of the returned labels
            labels = result.labels[b]
            centres = torch.stack([features[b][labels == k].mean(0) for k in range(6)])
            recomputed = (features[b] - centres[labels]).pow(2).sum()
            assert ours == pytest.approx(float(recomputed), rel=1e-3)


def test_same_labels_as_sklearn_on_separated_blobs():
    points, blob_ids = blobs()
    ours = kmeans(points[None], 4, n_init=2, seed=3).labels[0]
    theirs = KMeans(4, n_init=2, random_state=3).fit_predict(points.numpy())
    assert adjusted_rand_score(blob_ids.numpy(), ours.numpy()) == 1.0
    assert adjusted_rand_score(theirs, ours.numpy()) == 1.0


@pytest.mark.parametrize("init", ["k-means++", "farthest"])
def test_same_seed_same_labels_and_farthest_ignores_the_seed(init):
    features = random_features(3, 80, 5, seed=1)
    first = kmeans(features, 5, n_init=4, seed=11, init=init)
    again = kmeans(features, 5, n_init=4, seed=11, init=init)
    assert torch.equal(first.labels, again.labels)
    other = kmeans(features, 5, n_init=4, seed=12, init=init)
    if init == "farthest":
        assert torch.equal(first.labels, other.labels)


def test_seeds_reach_different_local_optima_on_unstructured_data():
    """Guards the test above: on uniform noise the seed does matter for k-means++."""
    features = random_features(4, 80, 5, seed=1)
    labels = [kmeans(features, 6, n_init=1, seed=s).labels for s in range(3)]
    assert not (torch.equal(labels[0], labels[1]) and torch.equal(labels[0], labels[2]))


@pytest.mark.parametrize("init", ["k-means++", "farthest"])
def test_an_image_gets_the_same_labels_alone_or_in_a_batch(init):
    features = random_features(4, 60, 7, seed=2).float()
    valid = torch.rand(4, 60, generator=torch.Generator().manual_seed(0)) > 0.3
    batched = kmeans(features, 5, valid, n_init=3, seed=4, init=init)
    for b in range(4):
        alone = kmeans(features[b : b + 1], 5, valid[b : b + 1], n_init=3, seed=4, init=init)
        assert torch.equal(alone.labels[0], batched.labels[b])
        assert torch.allclose(alone.inertia[0], batched.inertia[b])


@pytest.mark.parametrize("init", ["k-means++", "farthest"])
def test_how_often_the_host_checks_for_convergence_changes_nothing(init):
    """Restarts that stopped are frozen, so iterations run past convergence (until the next
    check) leave labels and inertia as they were."""
    features = random_features(4, 60, 7, seed=3).float()
    runs = [kmeans(features, 6, n_init=3, seed=1, init=init, check_every=every)
            for every in (1, 3, 8, 1000)]
    for run in runs[1:]:
        assert torch.equal(run.labels, runs[0].labels)
        assert torch.equal(run.inertia, runs[0].inertia)


def test_masked_channels_get_no_label_and_change_nothing():
    features = random_features(1, 50, 4, seed=5)
    valid = torch.ones(1, 50, dtype=torch.bool)
    valid[0, ::3] = False
    garbage = features.clone()
    garbage[0, ~valid[0]] = 1e6  # would dominate every centre if it were used
    masked = kmeans(garbage, 4, valid, n_init=2, seed=0)
    subset = kmeans(features[:, valid[0]], 4, n_init=2, seed=0)
    assert (masked.labels[0, ~valid[0]] == -1).all()
    assert torch.equal(masked.labels[0, valid[0]], subset.labels[0])


def test_k_capped_at_distinct_channels_and_labels_contiguous():
    rows = torch.tensor([[0.0, 1.0], [2.0, 3.0], [5.0, 5.0]], dtype=torch.float64)
    features = rows[torch.tensor([0, 1, 2, 0, 1, 2, 2])][None]
    result = kmeans(features, 5, n_init=3, seed=0)
    assert int(result.n_clusters[0]) == 3
    assert sorted(result.labels[0].unique().tolist()) == [0, 1, 2]
    groups = {tuple(rows_of) for rows_of in features[0].tolist()}
    assert len(groups) == 3
    for value in rows:
        same = (features[0] == value).all(-1)
        assert result.labels[0][same].unique().numel() == 1
    assert float(result.inertia[0]) == 0.0


def test_an_image_with_one_valid_channel_gets_one_cluster():
    features = random_features(2, 10, 3, seed=0)
    valid = torch.zeros(2, 10, dtype=torch.bool)
    valid[0, 4] = True
    valid[1] = True
    result = kmeans(features, 3, valid, seed=0)
    assert result.n_clusters.tolist() == [1, 3]
    assert result.labels[0].tolist() == [-1] * 4 + [0] + [-1] * 5


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="images, channels, dims"):
        kmeans(torch.rand(5, 3), 2)
    with pytest.raises(ValueError, match="unknown k-means init"):
        kmeans(torch.rand(1, 5, 3), 2, init="random")
    with pytest.raises(ValueError, match="valid must be"):
        kmeans(torch.rand(1, 5, 3), 2, torch.ones(1, 4, dtype=torch.bool))


def test_consensus_keeps_the_partition_most_like_the_others():
    # restarts 0 and 2 agree up to renaming; restart 1 splits differently
    labels = torch.tensor([[[0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 2, 2], [1, 1, 0, 0, 2, 2]]])
    valid = torch.ones(1, 6, dtype=torch.bool)
    assert _most_typical(labels, valid, 3).tolist() == [0]
    features = random_features(2, 40, 3, seed=3)
    result = kmeans(features, 4, n_init=6, seed=0, select="consensus")
    assert result.n_clusters.tolist() == [4, 4]
    again = kmeans(features, 4, n_init=6, seed=0, select="consensus")
    assert torch.equal(result.labels, again.labels)


def test_empty_clusters_move_to_the_farthest_channels_in_order():
    """scikit-learn's rule by hand: the j-th empty cluster moves to the j-th farthest valid
    channel."""
    points = torch.arange(5.0).view(1, 5, 1)  # channel c sits at c
    own = torch.tensor([[[0.1, 5.0, 0.2, 3.0, 1.0]]])  # distances to their own centres
    invalid = torch.tensor([[[False, True, False, False, False]]])  # channel 1 is not clustered
    empty = torch.tensor([[[False, True, True]]])  # clusters 1 and 2 lost every channel
    moved = _relocated(points, own, empty, invalid)  # farthest valid: channel 3, then 4
    assert moved[0, 0, 1:, 0].tolist() == [3.0, 4.0]
