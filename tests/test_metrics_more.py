"""Sparseness, Complexity, Average Gain, ADCC, Max-Sensitivity and the fake map, against values
computed by hand on closed-form toys, with exact costs; and against Quantus 0.6 where installed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from toys import LinearGapModel, MeanSigmoidToy, TinyNet

from baselines import CenterMap, FakeMap, GradCAM
from clustercam.cost import counted
from metrics import (
    QUANTUS_RADIUS,
    QUANTUS_SPARSENESS_EPSILON,
    ADCCResult,
    adcc,
    average_gain_values,
    complexity,
    confidence,
    entropy,
    gain,
    gain_from_confidence,
    gini,
    harmonic_adcc,
    max_sensitivity,
    method_counter,
    pearson,
    perturbed_images,
    sparseness,
    summarize_adcc,
    summarize_values,
)

GAIN = 3.0
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def one_hot(height: int, width: int, row: int, column: int) -> torch.Tensor:
    maps = torch.zeros(1, height, width)
    maps[0, row, column] = 1.0
    return maps


def python_pearson(a: list[float], b: list[float]) -> float:
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b))
    var_a = sum((x - mean_a) ** 2 for x in a)
    var_b = sum((y - mean_b) ** 2 for y in b)
    return cov / math.sqrt(var_a * var_b)


# --- Sparseness (Gini index) and Complexity (entropy): closed forms ---
#
# Gini index G = sum_i (2 i - n - 1) a_(i) / (n sum a), values sorted ascending, i = 1..n.
# One-hot: only a_(n) = 1 is non-zero, with weight 2 n - n - 1 = n - 1, so G = (n - 1) / n.
# Equal values: sum_i (2 i - n - 1) = n (n + 1) - n (n + 1) = 0, so G = 0.
# All ones but one zero (the fake map): a_(1) = 0 and the others 1, so the sum is
# 0 - (2 - n - 1) = n - 1 and G = (n - 1) / (n (n - 1)) = 1 / n.
# With Quantus' epsilon e added to every value, the one-hot numerator is
# (n - 1)(1 + e) + e (sum over i < n of (2 i - n - 1)) = (n - 1)(1 + e) - (n - 1) e = n - 1,
# and the denominator n (1 + n e): G = (n - 1) / (n (1 + n e)).


def test_gini_of_one_hot_uniform_and_fake_maps_by_hand() -> None:
    n = 4 * 5
    assert sparseness(one_hot(4, 5, 2, 3)).item() == pytest.approx((n - 1) / n, abs=1e-12)
    assert gini(torch.ones(1, n)).item() == pytest.approx(0.0, abs=1e-12)
    fake = torch.ones(1, 4, 5)
    fake[0, 0, 0] = 0
    assert sparseness(fake).item() == pytest.approx(1 / n, abs=1e-12)
    # values 0, 1, 2, 3: weights -3, -1, 1, 3 -> (0 - 1 + 2 + 9) / (4 * 6) = 10 / 24
    assert gini(torch.tensor([[2.0, 0.0, 3.0, 1.0]])).item() == pytest.approx(10 / 24, abs=1e-12)


def test_gini_with_quantus_epsilon_by_hand() -> None:
    n, e = 224 * 224, QUANTUS_SPARSENESS_EPSILON
    value = sparseness(one_hot(224, 224, 100, 7), epsilon=e).item()
    assert value == pytest.approx((n - 1) / (n * (1 + n * e)), rel=1e-9)
    assert value < (n - 1) / n * 0.996  # Quantus' epsilon lowers it by 0.5 % at 224 x 224


def test_entropy_of_uniform_one_hot_fake_and_two_level_maps_by_hand() -> None:
    n = 4 * 5
    assert entropy(torch.full((1, n), 0.3)).item() == pytest.approx(math.log(n), abs=1e-12)
    assert complexity(one_hot(4, 5, 0, 0)).item() == 0.0
    fake = torch.ones(1, 4, 5)
    fake[0, 3, 4] = 0
    assert complexity(fake).item() == pytest.approx(math.log(n - 1), abs=1e-12)
    # 0, 1, 1, 2 -> p = 0, 1/4, 1/4, 1/2: H = 2 (1/4) log 4 + (1/2) log 2 = 1.5 log 2
    two_level = torch.tensor([[[0.0, 1.0], [1.0, 2.0]]])
    assert complexity(two_level).item() == pytest.approx(1.5 * math.log(2), abs=1e-12)


def test_absolute_values_and_scale_invariance() -> None:
    signed = torch.tensor([[[-1.0, 0.0], [0.0, 0.0]]])
    assert sparseness(signed).item() == pytest.approx(3 / 4, abs=1e-12)
    assert complexity(signed).item() == 0.0
    maps = torch.rand(3, 6, 7, generator=torch.Generator().manual_seed(0))
    for metric in (sparseness, complexity):
        assert torch.allclose(metric(maps * 5), metric(maps), atol=1e-7, rtol=0)


def test_invalid_maps_give_nan_and_are_counted() -> None:
    maps = torch.stack(
        [one_hot(3, 3, 1, 1)[0], torch.full((3, 3), 0.5), torch.full((3, 3), float("nan"))]
    )
    for metric in (sparseness, complexity):
        values = metric(maps)
        assert not math.isnan(values[0].item())
        assert torch.isnan(values[1:]).all()
        mean, n_scored, n_skipped = summarize_values(values)
        assert (mean, n_scored, n_skipped) == (values[0].item(), 1, 2)
    assert math.isnan(summarize_values(sparseness(maps[1:]))[0])


# --- Average Gain ---


def test_average_gain_on_mean_sigmoid_toy_by_hand() -> None:
    images = torch.tensor([[[[1.0, -2.0], [3.0, 0.5]]], [[[2.0, 1.0], [-1.0, 0.0]]]])
    maps = torch.tensor([[[1.0, 0.0], [0.5, 0.25]], [[0.2, 1.0], [0.0, 0.6]]])
    classes = torch.tensor([0, 0])
    # image 0: mean x = 2.5 / 4, mean x * L = 2.625 / 4 -> O > Y, a gain
    # image 1: mean x = 2 / 4,   mean x * L = 1.4 / 4   -> O < Y, no gain
    y = [sigmoid(GAIN * 2.5 / 4), sigmoid(GAIN * 2.0 / 4)]
    o = [sigmoid(GAIN * 2.625 / 4), sigmoid(GAIN * 1.4 / 4)]
    expected = [100 * (o[0] - y[0]) / (1 - y[0]), 0.0]
    model = counted(MeanSigmoidToy(GAIN))
    with model.measure() as alone:
        values = gain(model, images, maps, classes)
    assert values.tolist() == pytest.approx(expected, abs=1e-4)
    assert alone.forward == 4  # p_c(x) and p_c(x * L) of 2 images

    with model.measure() as drop_cost:
        result = confidence(model, images, maps, classes)
    with model.measure() as shared:
        shared_values = gain_from_confidence(result)
    assert drop_cost.forward == 4 and shared.forward == 0
    assert torch.equal(shared_values, values)
    with model.measure() as known_y:
        gain(model, images, maps, classes, original_probs=result.original)
    assert known_y.forward == 2


def test_average_gain_edge_cases() -> None:
    original = torch.tensor([1.0, 0.5, 0.25, 0.5])
    explained = torch.tensor([1.0, 0.75, 0.25, float("nan")])
    values = average_gain_values(original, explained)
    assert values[:3].tolist() == pytest.approx([0.0, 50.0, 0.0])
    assert math.isnan(values[3].item())
    with pytest.raises(ValueError, match="shape"):
        average_gain_values(original, explained[:2])


def test_average_gain_skips_invalid_maps_at_no_cost() -> None:
    images = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    maps = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(2))
    maps[1] = 0.5
    model = counted(MeanSigmoidToy(GAIN))
    with model.measure() as cost:
        values = gain(model, images, maps, torch.tensor([0, 0, 1]))
    assert torch.isnan(values).tolist() == [False, True, False]
    assert cost.forward == 4


# --- ADCC ---


class InputMap:
    """A method whose map is the image's first channel itself; one counted forward per image."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = counted(model)
        self.calls = 0

    def __call__(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.model(images)
        return images[:, 0].clone()


ADCC_IMAGES = [[[0.2, 0.9], [0.5, 0.4]], [[1.0, 0.0], [0.3, 0.6]]]


def hand_adcc(pixels: list[list[float]]) -> tuple[float, float, float, float]:
    """(ADCC, coherency, complexity, AD) of InputMap on a 1-channel image, class 0 of the toy."""
    x = [v for row in pixels for v in row]
    kept = [v * v for v in x]  # x * L with L = x; the second map is its first channel
    coherency = (1 + python_pearson(x, kept)) / 2
    complexity_ = sum(x) / len(x)
    y, o = sigmoid(GAIN * sum(x) / len(x)), sigmoid(GAIN * sum(kept) / len(x))
    drop = max(0.0, y - o) / y
    score = 3 / (1 / coherency + 1 / (1 - complexity_) + 1 / (1 - drop))
    return score, coherency, complexity_, drop


def test_adcc_and_its_parts_by_hand_with_exact_costs() -> None:
    images = torch.tensor([[image] for image in ADCC_IMAGES])
    classes = torch.tensor([0, 0])
    method = InputMap(MeanSigmoidToy(GAIN))
    result = adcc(method, method.model, images, classes)
    expected = [hand_adcc(image) for image in ADCC_IMAGES]
    for column, name in enumerate(("adcc", "coherency", "complexity")):
        assert getattr(result, name).tolist() == pytest.approx(
            [e[column] for e in expected], abs=1e-6
        ), name
    assert result.drop.tolist() == pytest.approx([100 * e[3] for e in expected], abs=1e-4)
    assert result.second_invalid.tolist() == [False, False]
    assert method.calls == 2  # the maps, then the maps of x * L
    assert (result.method_cost.forward, result.coherency_cost.forward) == (2, 2)
    assert result.metric_cost.forward == 4  # p_c(x) and p_c(x * L)
    assert result.coherency_cost.backward == result.metric_cost.backward == 0

    summary = summarize_adcc(result)
    assert summary.adcc == pytest.approx(sum(e[0] for e in expected) / 2, abs=1e-6)
    assert summary.average_drop == pytest.approx(sum(e[3] for e in expected) / 2, abs=1e-6)
    assert (summary.n_scored, summary.n_skipped, summary.n_second_invalid) == (2, 0, 0)


def test_adcc_shares_maps_and_average_drop_at_no_cost() -> None:
    images = torch.tensor([[image] for image in ADCC_IMAGES])
    classes = torch.tensor([0, 0])
    method = InputMap(MeanSigmoidToy(GAIN))
    maps = images[:, 0].clone()
    drop = confidence(method.model, images, maps, classes)
    shared = adcc(method, method.model, images, classes, maps=maps, confidence_result=drop)
    assert method.calls == 1
    assert shared.method_cost.forward == shared.metric_cost.forward == 0
    assert shared.coherency_cost.forward == 2
    alone = adcc(method, method.model, images, classes)
    assert torch.allclose(shared.adcc, alone.adcc, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="very maps"):
        adcc(method, method.model, images[:1], classes[:1], maps=maps[:1], confidence_result=drop)


def test_adcc_of_a_gradient_method_counts_its_backward_passes() -> None:
    generator = torch.Generator().manual_seed(0)
    model = LinearGapModel(
        torch.randn(4, 3, generator=generator), torch.randn(5, 4, generator=generator)
    )
    counter = counted(model.eval())
    method = GradCAM(counter, "features")
    images = torch.randn(3, 3, 6, 6, generator=generator)
    classes = torch.tensor([0, 2, 4])
    maps = method(images, classes).maps
    result = adcc(method, model, images, classes, maps=maps, original_probs=torch.rand(3))
    assert method_counter(method, model) is counter
    assert (result.coherency_cost.forward, result.coherency_cost.backward) == (3, 3)
    assert (result.metric_cost.forward, result.metric_cost.backward) == (3, 0)
    assert result.method_cost.forward == 0


def test_adcc_skips_invalid_maps_and_flags_invalid_second_maps() -> None:
    images = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(3))

    class ConstantMap(InputMap):  # called here for the maps of x * L only: all constant
        def __call__(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
            return torch.zeros_like(super().__call__(images, classes))

    method = ConstantMap(MeanSigmoidToy(GAIN))
    maps = images[:, 0].clone()
    maps[1] = 0.25  # constant: skipped, never explained again
    result = adcc(method, method.model, images, torch.tensor([0, 1, 0]), maps=maps)
    assert torch.isnan(result.adcc).all()
    assert torch.isnan(result.drop).tolist() == [False, True, False]
    assert result.second_invalid.tolist() == [True, False, True]
    assert result.coherency_cost.forward == 2 and result.metric_cost.forward == 4
    summary = summarize_adcc(result)
    assert (summary.n_scored, summary.n_skipped, summary.n_second_invalid) == (0, 3, 2)
    joined = ADCCResult.cat([result, result])
    assert len(joined.adcc) == 6 and joined.coherency_cost.forward == 4


def test_adcc_harmonic_mean_and_pearson() -> None:
    parts = harmonic_adcc(
        torch.tensor([0.5, 0.0, 1.0]), torch.tensor([0.5, 0.2, 0.0]), torch.tensor([0.5, 0.1, 0.0])
    )
    assert parts.tolist() == pytest.approx([0.5, 0.0, 1.0])
    a = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    assert pearson(a, 2 * a + 1).item() == pytest.approx(1.0)
    assert pearson(a, -a).item() == pytest.approx(-1.0)
    assert math.isnan(pearson(a, torch.ones_like(a)).item())


def test_adcc_refuses_a_method_counting_elsewhere_and_maps_outside_unit_range() -> None:
    model = MeanSigmoidToy(GAIN)
    method = InputMap(model)
    with pytest.raises(ValueError, match="another CostCounter"):
        method_counter(method, counted(MeanSigmoidToy(GAIN)))
    assert method_counter(method, model) is method.model
    images = torch.rand(1, 1, 3, 3, generator=torch.Generator().manual_seed(4))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adcc(method, model, images * 3, torch.tensor([0]))


# --- Max-Sensitivity ---


def test_map_that_ignores_the_input_has_zero_sensitivity_and_exact_cost() -> None:
    counter = counted(TinyNet(n_classes=10).eval())
    method = CenterMap(counter, "features")
    images = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    classes = torch.tensor([1, 2, 3])
    result = max_sensitivity(method, counter, images, classes, n_samples=4, radius=0.5)
    assert result.max_sensitivity.tolist() == [0.0, 0.0, 0.0]
    assert result.sensitivities.shape == (3, 4)
    assert (result.cost.forward, result.cost.backward) == (12, 0)  # 4 calls x 3 images
    assert result.method_cost.forward == 3  # the maps of x, once


def test_map_that_is_the_input_moves_by_the_noise_by_hand() -> None:
    images = torch.rand(2, 2, 5, 6, generator=torch.Generator().manual_seed(6)) + 0.5
    classes = torch.tensor([0, 1])
    radius, n_samples = 0.1, 6
    method = InputMap(MeanSigmoidToy(GAIN))
    result = max_sensitivity(
        method, method.model, images, classes, n_samples=n_samples, radius=radius, seed=7
    )
    # L(x') - L(x) is the noise u of channel 0: sensitivity = ||u_0|| / ||x_0||
    norms = images[:, 0].flatten(1).double().norm(dim=1)
    expected = torch.stack(
        [
            (noisy[:, 0] - images[:, 0]).flatten(1).double().norm(dim=1) / norms
            for noisy in perturbed_images(images, n_samples, radius, seed=7)
        ],
        dim=1,
    )
    assert torch.allclose(result.sensitivities, expected, atol=1e-6, rtol=0)
    assert torch.equal(result.max_sensitivity, result.sensitivities.amax(dim=1))
    # |u| <= r everywhere, so the bound r sqrt(H W) / ||x_0||
    bound = radius * math.sqrt(5 * 6) / norms
    assert (result.max_sensitivity <= bound + 1e-6).all()
    assert (result.max_sensitivity > 0.3 * bound).all()  # E|u|^2 = r^2 / 3: near 0.58 bound
    assert result.cost.forward == n_samples * 2 and method.calls == 1 + n_samples


def test_noise_is_seeded_bounded_and_independent_of_the_batch() -> None:
    images = torch.randn(3, 3, 4, 4, generator=torch.Generator().manual_seed(8))
    batches = list(perturbed_images(images, 3, radius=0.2, seed=1))
    again = list(perturbed_images(images, 3, radius=0.2, seed=1))
    alone = list(perturbed_images(images[2:], 3, radius=0.2, seed=1))
    other = list(perturbed_images(images, 3, radius=0.2, seed=2))
    for noisy, same, single, reseeded in zip(batches, again, alone, other):
        assert torch.equal(noisy, same)
        assert torch.equal(noisy[2:], single)
        assert not torch.equal(noisy, reseeded)
        assert ((noisy - images).abs() <= 0.2 + 1e-6).all()
    assert not torch.equal(batches[0], batches[1])
    assert QUANTUS_RADIUS == 0.2
    with pytest.raises(ValueError, match="n_samples"):
        perturbed_images(images, 0)
    with pytest.raises(ValueError, match="radius"):
        perturbed_images(images, 2, radius=0.0)


def test_sensitivity_skips_invalid_maps_and_ignores_non_finite_samples() -> None:
    images = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(9))

    class NanOnSecondCall(InputMap):
        def __call__(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
            maps = super().__call__(images, classes)
            return torch.full_like(maps, float("nan")) if self.calls == 2 else maps

    method = NanOnSecondCall(MeanSigmoidToy(GAIN))
    maps = images[:, 0].clone()
    maps[0] = float("nan")
    result = max_sensitivity(
        method, method.model, images, torch.tensor([0, 0, 1]), maps=maps, n_samples=3
    )
    assert torch.isnan(result.sensitivities[0]).all() and math.isnan(result.max_sensitivity[0])
    assert torch.isnan(result.sensitivities[1:, 1]).all()  # sample 1: the NaN maps
    assert not torch.isnan(result.max_sensitivity[1:]).any()
    assert result.cost.forward == 3 * 2 and result.method_cost.forward == 0


# --- The fake map ---


def fake_image() -> torch.Tensor:
    return torch.tensor([[[[0.8, 0.1, 0.4], [0.2, 0.6, 0.3]], [[0.5, 0.2, 0.9], [0.7, 0.1, 0.4]]]])


def test_fake_map_is_all_ones_but_one_pixel_and_costs_one_forward() -> None:
    model = MeanSigmoidToy(GAIN)
    method = FakeMap(model, model)
    explanation = method(fake_image(), 0)
    expected = torch.ones(1, 2, 3)
    expected[0, 0, 0] = 0
    assert torch.equal(explanation.maps, expected)
    assert (explanation.cost.forward, explanation.cost.backward) == (1.0, 0.0)
    corner = FakeMap(model, model, row=-1, column=-1)(fake_image(), 0).maps
    assert corner[0, -1, -1] == 0 and corner.sum() == 5
    with pytest.raises(ValueError, match="outside"):
        FakeMap(model, model, row=2)(fake_image(), 0)


def test_fake_map_games_average_drop_on_mean_sigmoid_toy_by_hand() -> None:
    image = fake_image()
    model = MeanSigmoidToy(GAIN)
    maps = FakeMap(model, model)(image, 0).maps
    result = confidence(model, image, maps, torch.tensor([0]))
    # x * L drops pixel (0, 0) of both channels (0.8 and 0.5) out of a sum of 5.2 over 12 values
    y, o = sigmoid(GAIN * 5.2 / 12), sigmoid(GAIN * (5.2 - 1.3) / 12)
    drop = 100 * (y - o) / y
    assert result.drop.item() == pytest.approx(drop, abs=1e-4)
    assert result.drop.item() < 15  # near-perfect: the explanation image is nearly x
    honest = torch.tensor([[[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]])  # keeps half the image
    assert confidence(model, image, honest, torch.tensor([0])).drop.item() > 2 * drop
    # ... and the complexity metrics expose it: Gini 1 / n, entropy log(n - 1)
    assert sparseness(maps).item() == pytest.approx(1 / 6, abs=1e-12)
    assert complexity(maps).item() == pytest.approx(math.log(5), abs=1e-12)


def test_adcc_exposes_the_fake_map() -> None:
    image = fake_image()
    model = counted(MeanSigmoidToy(GAIN))
    method = FakeMap(model, model.model)
    result = adcc(method, model, image, torch.tensor([0]))
    n = 6
    assert result.coherency.item() == pytest.approx(1.0)  # the same map for x * L
    assert result.complexity.item() == pytest.approx((n - 1) / n)
    assert result.adcc.item() < 3 / n
    assert (result.method_cost.forward, result.coherency_cost.forward) == (1, 1)


def test_fake_map_config_builds_the_method() -> None:
    options = OmegaConf.to_container(OmegaConf.load(CONFIGS / "method" / "fake.yaml"))
    assert isinstance(options, dict) and options.pop("name") == "fake"
    method = instantiate(options, model=TinyNet(n_classes=10).eval(), target_layer="features")
    assert isinstance(method, FakeMap)
    maps = method(torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(10))).maps
    assert maps.shape == (2, 8, 8) and maps.sum().item() == 2 * 63


# --- Quantus 0.6 references ---


def reference_maps() -> torch.Tensor:
    """Random maps min-max normalised per map, as every method returns them (largest value 1)."""
    maps = torch.rand(5, 12, 10, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    maps = maps**3  # skewed, so that the Gini index is far from 0
    low = maps.amin(dim=(1, 2), keepdim=True)
    return (maps - low) / (maps.amax(dim=(1, 2), keepdim=True) - low)


def quantus_inputs(maps: torch.Tensor) -> dict:
    images = torch.rand(len(maps), 3, *maps.shape[-2:], generator=torch.Generator().manual_seed(12))
    return {
        "model": None,
        "x_batch": images.double().numpy(),
        "y_batch": torch.zeros(len(maps), dtype=torch.long).numpy(),
        "a_batch": maps[:, None].numpy().copy(),
    }


def test_sparseness_matches_quantus() -> None:
    quantus = pytest.importorskip("quantus", exc_type=ImportError)
    maps = reference_maps()
    expected = torch.tensor(quantus.Sparseness(disable_warnings=True)(**quantus_inputs(maps)))
    ours = sparseness(maps, epsilon=QUANTUS_SPARSENESS_EPSILON)
    assert torch.allclose(ours, expected.double(), atol=1e-9, rtol=0)
    # the definition (no epsilon) differs from Quantus by less than n epsilon, relatively
    assert torch.allclose(sparseness(maps), expected.double(), rtol=120 * 1e-7, atol=0)


def test_complexity_matches_quantus() -> None:
    quantus = pytest.importorskip("quantus", exc_type=ImportError)
    maps = reference_maps()
    expected = torch.tensor(quantus.Complexity(disable_warnings=True)(**quantus_inputs(maps)))
    assert torch.allclose(complexity(maps), expected.double(), atol=1e-9, rtol=0)


def test_max_sensitivity_matches_quantus_on_the_same_noise() -> None:
    quantus = pytest.importorskip("quantus", exc_type=ImportError)
    images = torch.rand(3, 2, 6, 5, generator=torch.Generator().manual_seed(13))
    classes = torch.tensor([0, 1, 0])

    def method(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (inputs[:, 0] ** 2 + inputs[:, 1]).detach()

    ours = max_sensitivity(method, MeanSigmoidToy(GAIN), images, classes, n_samples=7, seed=3)
    noisy = iter(list(perturbed_images(images, 7, QUANTUS_RADIUS, seed=3)))

    def perturb(arr, indices, **kwargs):  # Quantus' hook: our noise, sample by sample
        return next(noisy).double().numpy().reshape(arr.shape)

    def explain_func(model, inputs, targets, **kwargs):
        return method(torch.as_tensor(inputs), torch.as_tensor(targets)).numpy()[:, None]

    metric = quantus.MaxSensitivity(nr_samples=7, perturb_func=perturb, disable_warnings=True)
    expected = metric(
        model=MeanSigmoidToy(GAIN).eval(),
        x_batch=images.double().numpy(),
        y_batch=classes.numpy(),
        a_batch=method(images, classes).numpy()[:, None],
        explain_func=explain_func,
        device="cpu",
    )
    assert torch.allclose(ours.max_sensitivity, torch.tensor(expected).double(), atol=1e-9)
