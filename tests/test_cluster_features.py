"""Cluster-CAM clusters channels by *where* they fire: each channel's map is min-max scaled on its
own (docs/cluster-cam.md, step 2). These tests fail on the batched code of 798269b, which scaled
each image once over all its channels, so that `features=normalized` clustered the raw maps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from clustercam import ClusterCAM
from clustercam.bench import bundled_samples, load_image, load_model
from tests.toys import RegionModel

GROUPS, MEMBERS, SIDE = 3, 4, 6
# Member j of every group is scale_j * pattern + offset_j: the same place, very different strength.
SCALES = torch.tensor([0.05, 1.0, 20.0, 400.0])
OFFSETS = torch.tensor([0.0, 3.0, -1.0, 7.0])


def planted_activations(n_images: int = 2) -> tuple[torch.Tensor, np.ndarray]:
    """(B, 12, 6, 6) activations whose channels fall in 3 groups by pattern, and the groups."""
    generator = torch.Generator().manual_seed(0)
    patterns = torch.rand(n_images, GROUPS, SIDE, SIDE, generator=generator)
    channels = patterns[:, :, None] * SCALES[:, None, None] + OFFSETS[:, None, None]
    return channels.flatten(1, 2), np.repeat(np.arange(GROUPS), MEMBERS)


def labels_of(features: str, activations: torch.Tensor) -> np.ndarray:
    method = ClusterCAM(RegionModel(), "features", n_clusters=GROUPS, features=features)
    return method.channel_labels(activations).numpy()


def test_normalized_features_find_the_planted_groups_whatever_a_channels_scale():
    activations, planted = planted_activations()
    scaled = activations.clone()
    scaled[:, 2] *= 20  # one channel, 20 times stronger: it still fires in the same place
    for image_labels, image_scaled in zip(
        labels_of("normalized", activations), labels_of("normalized", scaled)
    ):
        assert adjusted_rand_score(planted, image_labels) == 1.0
        assert adjusted_rand_score(image_labels, image_scaled) == 1.0


def test_raw_features_group_by_strength_and_move_with_a_channels_scale():
    activations, planted = planted_activations()
    scaled = activations.clone()
    scaled[:, 2] *= 20  # as above: now as strong as its group's strongest channel
    raw, raw_scaled = labels_of("raw", activations), labels_of("raw", scaled)
    normalized = labels_of("normalized", activations)
    for b in range(len(activations)):
        assert adjusted_rand_score(planted, raw[b]) < 1.0
        assert adjusted_rand_score(normalized[b], raw[b]) < 1.0
        assert adjusted_rand_score(raw[b], raw_scaled[b]) < 1.0


# --- The real model against a plain per-image reference written from docs/cluster-cam.md -------


def norm(values: np.ndarray) -> np.ndarray:
    spread = values.max() - values.min()
    return (values - values.min()) / spread if spread > 0 else np.zeros_like(values)


def reference_map(
    model: torch.nn.Module, image: torch.Tensor, layer: str, k: int, blank_p: np.ndarray
) -> np.ndarray:
    """Steps 1-6 of docs/cluster-cam.md for one image, in NumPy and scikit-learn."""
    captured = {}
    hook = dict(model.named_modules())[layer].register_forward_hook(
        lambda module, inputs, output: captured.setdefault("a", output.detach())
    )
    with torch.no_grad():
        logits = model(image[None])
    hook.remove()
    c = int(logits.argmax())  # 1. the top-1 class and the activations A (C x h x w)
    activations = captured["a"][0].double().numpy()
    n_channels, h, w = activations.shape
    flat = activations.reshape(n_channels, h * w)
    live = np.flatnonzero(flat.max(1) > flat.min(1))  # constant channels are left out
    # 2. each channel's map, min-max normalised on its own; farthest-point seeding from the
    # channel of largest energy, then Lloyd's k-means.
    points = np.stack([norm(flat[i]) for i in live])
    chosen = [int(np.argmax((points**2).sum(1)))]
    for _ in range(1, k):
        distance = np.min([((points - points[j]) ** 2).sum(1) for j in chosen], axis=0)
        chosen.append(int(np.argmax(distance)))
    kmeans = KMeans(k, init=points[chosen], n_init=1, max_iter=300, tol=1e-4).fit(points)
    # 3. cluster means of the raw maps; 4. one masked forward pass per cluster.
    size = image.shape[-2:]
    cluster_maps, masked = [], []
    for cluster in range(k):
        mean = flat[live[kmeans.labels_ == cluster]].mean(0).reshape(1, 1, h, w)
        up = F.interpolate(torch.from_numpy(mean), size=size, mode="bilinear", align_corners=False)
        cluster_maps.append(up[0, 0].numpy())
        masked.append(image * torch.from_numpy(norm(up[0, 0].numpy())).float())
    with torch.no_grad():
        scores = model(torch.stack(masked)).double().softmax(1)[:, c].numpy()
    # 5. against the blank image; 6. ReLU(base - scissors), normalised.
    gains = scores - blank_p[c]
    base = sum(max(d, 0) * m for d, m in zip(gains, cluster_maps))
    scissors = sum(max(-d, 0) * m for d, m in zip(gains, cluster_maps))
    return norm(np.maximum(base - scissors, 0))


@pytest.mark.slow
def test_documented_map_equals_a_plain_reference_on_every_bundled_photo():
    """docs/cluster-cam.md's reconstruction with per-channel features and farthest-point seeding
    (the default until the rule was applied again with the fixed features; every option named)."""
    zoo = load_model("efficientnet_lite0")
    images = torch.stack([zoo.transform(load_image(s.path)) for s in bundled_samples()])
    with torch.no_grad():
        blank_p = zoo.model(torch.zeros_like(images[:1])).double().softmax(1)[0].numpy()
    ours = ClusterCAM(
        zoo.model, zoo.target_layer, n_clusters=8, features="normalized", init="farthest",
        cognition="baseline", score="masked", lam=1.0,
    )(images).maps.double().numpy()
    for sample, image, our_map in zip(bundled_samples(), images, ours):
        expected = reference_map(zoo.model, image, zoo.target_layer, 8, blank_p)
        pearson = np.corrcoef(expected.ravel(), our_map.ravel())[0, 1]
        assert pearson >= 0.999, f"{sample.image_id}: Pearson {pearson:.4f}"
