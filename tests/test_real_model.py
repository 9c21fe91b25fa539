"""The embedded default for real: EfficientNet-Lite0 ImageNet weights on the bundled photos."""

from __future__ import annotations

import pytest
import torch

from baselines import AblationCAM, GradCAM, GroupCAM
from clustercam import ClusterCAM
from clustercam.bench import bundled_samples, load_image, load_model

pytestmark = pytest.mark.slow

MOUNTAIN_BIKE = 671
# Boxes in the 224 x 224 centre crop of dog_bike_truck.jpg, as (x0, y0, x1, y1), read off the crop.
DOG_BOX = (0, 80, 85, 224)
BIKE_BOX = (60, 40, 200, 175)


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet_lite0")


def peak(saliency: torch.Tensor) -> tuple[int, int]:
    index = int(saliency.argmax())
    return index % saliency.shape[1], index // saliency.shape[1]


def inside(point: tuple[int, int], box: tuple[int, int, int, int]) -> bool:
    return box[0] <= point[0] < box[2] and box[1] <= point[1] < box[3]


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_top1_is_acceptable_on_most_bundled_photos(lite0, name):
    zoo = lite0 if name == lite0.name else load_model(name)
    samples = bundled_samples()
    images = torch.stack([zoo.transform(load_image(s.path)) for s in samples])
    size = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}[name]
    assert images.shape[-2:] == (size, size)
    with torch.no_grad():
        predicted = zoo.model(images).argmax(1).tolist()
    hits = sum(p in s.acceptable for p, s in zip(predicted, samples))
    assert hits >= 18, f"only {hits} of {len(samples)} photos classified acceptably"


@pytest.mark.parametrize(
    "make",
    [GradCAM, ClusterCAM, AblationCAM, GroupCAM],
    ids=["gradcam", "clustercam", "ablationcam", "groupcam"],
)
def test_dog_and_bike_maps_peak_on_their_own_objects(lite0, make):
    sample = next(s for s in bundled_samples() if s.image_id == "dog_bike_truck")
    image = lite0.transform(load_image(sample.path))[None]
    with torch.no_grad():
        dog = int(lite0.model(image).argmax())
    assert dog in range(151, 269)  # a dog class
    method = make(lite0.model, lite0.target_layer)
    dog_peak = peak(method(image, targets=dog).maps[0])
    bike_peak = peak(method(image, targets=MOUNTAIN_BIKE).maps[0])
    assert inside(dog_peak, DOG_BOX), dog_peak
    assert inside(bike_peak, BIKE_BOX) and not inside(bike_peak, DOG_BOX), bike_peak
    distance = ((dog_peak[0] - bike_peak[0]) ** 2 + (dog_peak[1] - bike_peak[1]) ** 2) ** 0.5
    assert distance > 40
