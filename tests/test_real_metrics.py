"""Metric sanity on the real embedded model: real maps beat a random map and their own inverse."""

from __future__ import annotations

import pytest
import torch

from baselines import GradCAM, RandomMap, ScoreCAM
from clustercam import ClusterCAM
from clustercam.bench import bundled_samples, load_image, load_model
from metrics import deletion, insertion

pytestmark = pytest.mark.slow

PHOTOS = ("chelsea", "eagle", "soccer")
CHUNK = 8


@pytest.fixture(scope="module")
def setting():
    """Model, images, classes, and the curve endpoints that every map of these images shares."""
    zoo_model = load_model("efficientnet_lite0")
    samples = [s for s in bundled_samples() if s.image_id in PHOTOS]
    images = torch.stack([zoo_model.transform(load_image(s.path)) for s in samples])
    with torch.no_grad():
        classes = zoo_model.model(images).argmax(1)
    metrics = {name: metric("fast") for name, metric in (("del", deletion), ("ins", insertion))}
    ends = {n: m.endpoints(zoo_model.model, images, classes, CHUNK) for n, m in metrics.items()}

    def mean_auc(name: str, maps: torch.Tensor) -> float:
        result = metrics[name](zoo_model.model, images, maps, classes, ends[name], CHUNK)
        return result.auc.mean().item()

    noise = RandomMap(zoo_model.model, zoo_model.target_layer, seed=0)(images).maps
    return zoo_model, images, mean_auc, mean_auc("ins", noise)


@pytest.mark.parametrize("method", [GradCAM, ScoreCAM, ClusterCAM])
def test_real_maps_beat_random_and_their_inverse(setting, method):
    zoo_model, images, mean_auc, random_insertion = setting
    maps = method(zoo_model.model, zoo_model.target_layer, chunk_size=CHUNK)(images).maps
    assert mean_auc("ins", maps) > random_insertion
    assert mean_auc("ins", maps) > mean_auc("ins", 1 - maps)
    assert mean_auc("del", maps) < mean_auc("del", 1 - maps)
