"""Nothing downloads at test time: hubs are offline before any test module imports timm."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TQDM_DISABLE", "1")


import pytest


@pytest.fixture(scope="module")
def lite0_and_images():
    """The real EfficientNet-Lite0 and three bundled photos, for the slow agreement tests."""
    import torch

    from clustercam.bench import bundled_samples, load_image, load_model

    zoo = load_model("efficientnet_lite0")
    samples = {s.image_id: s for s in bundled_samples()}
    photos = ("chelsea", "baboon", "dog_bike_truck")
    return zoo, torch.stack([zoo.transform(load_image(samples[name].path)) for name in photos])
