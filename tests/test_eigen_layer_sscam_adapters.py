"""Eigen-CAM, Layer-CAM, SS-CAM and the library adapters against known answers: hand-computed
maps on toy models, exact pass counts, batch/chunk invariance, clear errors."""

from __future__ import annotations

import sys

import pytest
import torch
from toys import LinearGapModel, MeanSigmoidToy, RegionModel, TinyNet

from baselines import SSCAM, AdapterError, EigenCAM, GradCAM, LayerCAM, PytorchGradCAM, ScoreCAM
from baselines import TorchCAM as TorchCAMAdapter
from clustercam.map_ops import minmax_normalize, upsample


def region_images(n: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 0.5 + 0.5 * torch.rand(n, 3, size, size, generator=generator)


def normalized(cam: torch.Tensor) -> torch.Tensor:
    return (cam - cam.min()) / (cam.max() - cam.min())


def rank_one_model_and_images(channel_weights: torch.Tensor):
    """An identity 1x1 conv as target layer, fed x_k = a_k u: activations of rank 1, A = u a^T."""
    generator = torch.Generator().manual_seed(3)
    model = LinearGapModel(torch.eye(3), torch.randn(2, 3, generator=generator))
    spatial = torch.rand(2, 5, 6, generator=generator) + 0.1
    images = channel_weights[None, :, None, None] * spatial[:, None]
    return model, images, spatial


@pytest.mark.parametrize("weights", [[1.0, 0.5, 2.0], [0.5, -2.0, 0.3]], ids=["positive", "mixed"])
def test_eigencam_of_rank_one_activations(weights):
    """A' = (u - mean u) a^T: the first component is a, the projection |a| (u - mean u), signed so
    that it rises with the channel sum (sum a) u; uncentred, the projection is sign(sum a) |a| u,
    all zero after the ReLU when sum a < 0 (u > 0 here)."""
    a = torch.tensor(weights)
    model, images, spatial = rank_one_model_and_images(a)
    centred = EigenCAM(model, "features.0")(images)
    uncentred = EigenCAM(model, "features.0", center=False)(images)
    sign = torch.sign(a.sum())
    for b, u in enumerate(spatial):
        expected = normalized(torch.relu(sign * (u - u.mean())))
        torch.testing.assert_close(centred.maps[b], expected, atol=1e-5, rtol=0)
        expected = normalized(u) if sign > 0 else torch.zeros_like(u)
        torch.testing.assert_close(uncentred.maps[b], expected, atol=1e-5, rtol=0)
    assert (centred.cost.forward, centred.cost.backward) == (1, 0)


def test_eigencam_ignores_the_class():
    model, images, _ = rank_one_model_and_images(torch.tensor([1.0, 0.2, 0.4]))
    method = EigenCAM(model, "features.0")
    assert torch.equal(method(images, targets=0).maps, method(images, targets=1).maps)


def test_layercam_matches_hand_computation():
    """LinearGapModel: d logit_c / d A_k = W[c, k] / (H W) at every pixel, so Layer-CAM keeps the
    positive head weights only, where Grad-CAM keeps their signs."""
    generator = torch.Generator().manual_seed(1)
    conv = torch.randn(4, 3, generator=generator)
    head = torch.tensor([[1.0, -0.5, 0.8, -0.3], [-0.2, 0.9, 0.4, -1.0]])
    model = LinearGapModel(conv, head)
    images = torch.randn(2, 3, 5, 5, generator=generator)
    explanation = LayerCAM(model, "features")(images, targets=[1, 0])
    gradcam = GradCAM(model, "features")(images, targets=[1, 0])
    for b, target in enumerate([1, 0]):
        activations = torch.relu(torch.einsum("kc,chw->khw", conv, images[b]))
        cam = torch.einsum("k,khw->hw", torch.relu(head[target]) / 25, activations)
        torch.testing.assert_close(explanation.maps[b], normalized(cam), atol=1e-6, rtol=1e-5)
    assert not torch.allclose(explanation.maps, gradcam.maps, atol=1e-3)
    assert (explanation.cost.forward, explanation.cost.backward) == (1, 1)


def test_sscam_scores_are_the_mean_over_its_noisy_masks():
    """MeanSigmoidToy: p_0(x) = sigmoid(3 mean(x)), so every noisy score is one line by hand."""
    model = MeanSigmoidToy()
    images = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    maps = torch.rand(2, 2, 2, generator=torch.Generator().manual_seed(1))
    for noise_on in ("mask", "input"):
        method = SSCAM(model, model, n_samples=3, sigma=0.5, noise_on=noise_on, seed=4)
        (scores,) = method.score_masks(images, [maps], torch.tensor([0]))
        masks = minmax_normalize(upsample(maps, (4, 4)), over=(-2, -1))
        for j, mask in enumerate(masks):
            copies = []
            for s in range(3):
                noise = method.noise(j, s, (1 if noise_on == "mask" else 3, 4, 4))
                if noise_on == "mask":
                    noisy = images[0] * (mask + noise)
                else:
                    noisy = (images[0] + noise) * mask
                copies.append(torch.sigmoid(3 * noisy.double().mean()))
            assert scores[j].item() == pytest.approx(sum(copies).item() / 3, abs=1e-6)


def test_sscam_draws_each_noise_once_for_a_batch_of_images(monkeypatch):
    """Copies that share a draw (same channel position j, same sample s) share one chunk, so three
    images with 12 live channels each need 12 x 2 draws, not 3 x 12 x 2."""
    model = RegionModel(copies=3, dead=2)
    method = SSCAM(model, "features", n_samples=2, sigma=0.1, chunk_size=128)
    drawn = []
    noise = method.noise
    monkeypatch.setattr(method, "noise", lambda *key: drawn.append(key[:2]) or noise(*key))
    maps = method(region_images(n=3)).maps
    assert sorted(drawn) == [(j, s) for j in range(12) for s in range(2)]
    one_by_one = torch.cat([
        SSCAM(model, "features", n_samples=2, sigma=0.1)(image[None]).maps
        for image in region_images(n=3)
    ])
    torch.testing.assert_close(maps, one_by_one, atol=1e-6, rtol=0)


def test_sscam_without_noise_is_scorecam():
    model = RegionModel(region=2)
    images = region_images(n=2)
    smooth = SSCAM(model, "features", n_samples=2, sigma=0.0)(images, targets=0)
    plain = ScoreCAM(model, "features")(images, targets=0)
    torch.testing.assert_close(smooth.maps, plain.maps, atol=1e-6, rtol=0)


def test_forward_and_backward_counts_are_exact():
    model = RegionModel(copies=3, dead=2)  # 12 live channels, 2 constant ones
    images = region_images(n=2)
    cost = SSCAM(model, "features", n_samples=5, sigma=0.1)(images).cost
    assert (cost.forward, cost.backward) == (1 + 5 * 12, 0)
    cost = EigenCAM(model, "features")(images).cost
    assert (cost.forward, cost.backward) == (1, 0)
    cost = LayerCAM(model, "features")(images).cost
    assert (cost.forward, cost.backward) == (1, 1)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: LayerCAM(m, "features"),
        lambda m: SSCAM(m, "features", n_samples=4, sigma=0.2),
    ],
    ids=["layercam", "sscam"],
)
def test_maps_light_up_the_region_the_class_depends_on(make):
    """(Eigen-CAM is class-agnostic: it is only checked for not depending on the class.)"""
    for region in range(4):
        model = RegionModel(region=region)
        maps = make(model)(region_images(), targets=0).maps
        inside, outside = model.target_region, ~model.target_region
        assert (maps[:, inside].mean(1) > 2 * maps[:, outside].mean(1)).all()


@pytest.mark.parametrize(
    "make",
    [
        lambda m, chunk: EigenCAM(m, "features", chunk_size=chunk),
        lambda m, chunk: LayerCAM(m, "features", chunk_size=chunk),
        lambda m, chunk: SSCAM(m, "features", n_samples=3, sigma=0.3, chunk_size=chunk),
        lambda m, chunk: SSCAM(
            m, "features", n_samples=3, sigma=0.3, noise_on="input", chunk_size=chunk
        ),
    ],
    ids=["eigencam", "layercam", "sscam", "sscam_input"],
)
def test_batch_and_chunk_size_never_change_a_map(make):
    model = RegionModel(region=1)
    images = region_images(n=3)
    reference = make(model, 64)(images).maps
    one_by_one = torch.cat([make(model, 1)(image[None]).maps for image in images])
    torch.testing.assert_close(one_by_one, reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(make(model, 2)(images).maps, reference, atol=1e-5, rtol=0)


def test_sscam_same_seed_same_map_other_seed_other_map():
    model = RegionModel(region=1)
    images = region_images(n=2)
    def run(seed: int) -> torch.Tensor:
        return SSCAM(model, "features", n_samples=3, sigma=1.0, seed=seed)(images).maps

    assert torch.equal(run(1), run(1))
    assert not torch.allclose(run(1), run(2), atol=1e-3)


def test_bad_options_get_a_clear_message():
    model = RegionModel()
    with pytest.raises(ValueError, match="n_samples"):
        SSCAM(model, "features", n_samples=0)
    with pytest.raises(ValueError, match="sigma"):
        SSCAM(model, "features", sigma=-1)
    with pytest.raises(ValueError, match="choose one of mask, input"):
        SSCAM(model, "features", noise_on="weights")


# Adapters ----------------------------------------------------------------------------------------

ADAPTERS = [
    pytest.param(PytorchGradCAM, "pytorch_grad_cam", id="pytorch_grad_cam"),
    pytest.param(TorchCAMAdapter, "torchcam", id="torchcam"),
]


def require(module: str) -> None:
    pytest.importorskip(module, reason=f"{module} not installed (pip install '.[adapters]')")


@pytest.mark.parametrize(("adapter", "module"), ADAPTERS)
def test_adapter_layercam_equals_ours_and_is_counted(adapter, module):
    require(module)
    model = TinyNet().eval()
    images = torch.rand(3, 3, 12, 12, generator=torch.Generator().manual_seed(2))
    for targets in (None, [5, 7, 9]):
        ours = LayerCAM(model, "features")(images, targets)
        theirs = adapter(model, "features", "LayerCAM")(images, targets)
        assert torch.equal(theirs.classes, ours.classes)
        torch.testing.assert_close(theirs.maps, ours.maps, atol=1e-5, rtol=0)
        assert (theirs.cost.forward, theirs.cost.backward) == (1, 1)
    assert not model.features._forward_hooks and not model._forward_pre_hooks


@pytest.mark.parametrize(("adapter", "module"), ADAPTERS)
def test_adapter_counts_the_library_own_masked_passes(adapter, module):
    """Both libraries' Score-CAM push one masked image per channel (8 here) through our counter;
    torchcam's also scores the unmasked image once more as a baseline."""
    require(module)
    model = TinyNet().eval()
    images = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(2))
    cost = adapter(model, "features", "ScoreCAM", chunk_size=3)(images).cost
    extra = 1 if module == "torchcam" else 0
    assert (cost.forward, cost.backward) == (1 + extra + 8, 0)


@pytest.mark.parametrize(("adapter", "module"), ADAPTERS)
def test_adapter_errors_say_what_to_do(adapter, module, monkeypatch):
    model = TinyNet().eval()
    if module in sys.modules or pytest.importorskip(module, reason="library not installed"):
        with pytest.raises(AdapterError, match="did you mean LayerCAM"):
            adapter(model, "features", "LayerCam")
        with pytest.raises(ValueError, match=r"outside 0\.\.999"):
            adapter(model, "features", "LayerCAM")(torch.rand(1, 3, 8, 8), targets=1000)
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    pip_name = "grad-cam" if module == "pytorch_grad_cam" else "torchcam"
    with pytest.raises(AdapterError, match=f"pip install {pip_name}"):
        adapter(model, "features", "LayerCAM")
