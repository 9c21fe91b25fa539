"""Metrics against hand-computed ground truth on closed-form toy models, plus exact costs."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from toys import LinearToy, MeanSigmoidToy

from clustercam.cost import counted
from clustercam.map_ops import blur
from metrics import (
    PRESETS,
    CausalMetric,
    CausalPreset,
    ConfidenceResult,
    auc,
    confidence,
    deletion,
    explanation_masks,
    insertion,
    invalid_maps,
    preset,
    summarize_auc,
    summarize_confidence,
)

GAIN = 3.0

# A 2-channel 3x3 image and a map with distinct values; pixel p is at row p // 3, column p % 3.
IMAGE = [
    [[0.5, -1.0, 2.0], [1.5, -0.5, 0.25], [-2.0, 1.0, 0.75]],
    [[1.0, 0.5, -1.5], [0.0, 2.5, -0.25], [0.5, -1.0, 1.25]],
]
SALIENCY = [[0.1, 0.9, 0.3], [0.7, 0.5, 0.2], [0.8, 0.4, 0.6]]
ORDER = [1, 6, 3, 8, 4, 7, 2, 5, 0]  # pixels by saliency, highest first, written out by hand


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def p_first(image: list) -> float:
    """p_0 of MeanSigmoidToy, in plain Python."""
    values = [v for channel in image for row in channel for v in row]
    return sigmoid(GAIN * sum(values) / len(values))


def hand_curve(start: list, finish: list, order: list[int], step: int) -> list[float]:
    """RISE curve by hand: point t takes pixels order[:t * step] (all channels) from finish."""
    width = len(start[0][0])
    n_pixels = len(start[0]) * width
    n_steps = math.ceil(n_pixels / step)
    curve = []
    for t in range(n_steps + 1):
        moved = set(order[: min(t * step, n_pixels)])
        image = [
            [
                [
                    finish[c][r][w] if r * width + w in moved else start[c][r][w]
                    for w in range(width)
                ]
                for r in range(len(start[0]))
            ]
            for c in range(len(start))
        ]
        curve.append(p_first(image))
    return curve


def hand_auc(curve: list[float]) -> float:
    return sum((a + b) / 2 for a, b in itertools.pairwise(curve)) / (len(curve) - 1)


def zeros_like(image: list) -> list:
    return [[[0.0 for _ in row] for row in channel] for channel in image]


def one(values: list) -> torch.Tensor:
    """A batch of one: (1, ...) float tensor."""
    return torch.tensor([values], dtype=torch.float32)


FIRST = torch.tensor([0])


# --- Deletion and insertion: exact curves ---


@pytest.mark.parametrize("step", [1, 2, 4, 9])
def test_deletion_matches_hand_computed_curve_and_auc(step: int) -> None:
    result = deletion(step=step)(MeanSigmoidToy(GAIN), one(IMAGE), one(SALIENCY), FIRST)
    expected = hand_curve(IMAGE, zeros_like(IMAGE), ORDER, step)
    assert result.curves.shape == (1, math.ceil(9 / step) + 1)
    assert result.curves[0].tolist() == pytest.approx(expected, abs=1e-6)
    assert result.auc.item() == pytest.approx(hand_auc(expected), abs=1e-6)


def test_insertion_from_zeros_matches_hand_computed_curve() -> None:
    metric = insertion(step=2, substrate="zeros")
    result = metric(MeanSigmoidToy(GAIN), one(IMAGE), one(SALIENCY), FIRST)
    expected = hand_curve(zeros_like(IMAGE), IMAGE, ORDER, step=2)
    assert result.curves[0].tolist() == pytest.approx(expected, abs=1e-6)
    assert result.auc.item() == pytest.approx(hand_auc(expected), abs=1e-6)


def test_insertion_starts_from_blur_with_settable_kernel() -> None:
    image = one(IMAGE)
    metric = insertion(step=4, blur_kernel=3, blur_sigma=0.8)
    result = metric(MeanSigmoidToy(GAIN), image, one(SALIENCY), FIRST)
    blurred = blur(image, 3, 0.8)[0].tolist()
    expected = hand_curve(blurred, IMAGE, ORDER, step=4)
    assert result.curves[0].tolist() == pytest.approx(expected, abs=1e-6)
    assert result.curves[0, 0].item() != pytest.approx(p_first(IMAGE), abs=1e-3)
    assert result.curves[0, -1].item() == pytest.approx(p_first(IMAGE), abs=1e-6)


def test_deletion_towards_blur_substrate_ends_at_blurred_image() -> None:
    image = one(IMAGE)
    metric = deletion(step=2, substrate="blur", blur_kernel=3, blur_sigma=1.0)
    result = metric(MeanSigmoidToy(GAIN), image, one(SALIENCY), FIRST)
    expected = hand_curve(IMAGE, blur(image, 3, 1.0)[0].tolist(), ORDER, step=2)
    assert result.curves[0].tolist() == pytest.approx(expected, abs=1e-6)


def test_auc_is_the_trapezoid_on_unit_interval() -> None:
    curves = torch.tensor([[1.0, 0.5, 0.0], [0.2, 0.2, 0.2], [0.0, 1.0, 1.0]])
    assert auc(curves).tolist() == pytest.approx([0.5, 0.2, 0.75])


def test_ties_are_broken_by_pixel_index() -> None:
    saliency = [[0.0, 0.0, 0.5], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]
    tie_order = [4, 7, 2, 0, 1, 3, 5, 6, 8]
    result = deletion(step=1)(MeanSigmoidToy(GAIN), one(IMAGE), one(saliency), FIRST)
    expected = hand_curve(IMAGE, zeros_like(IMAGE), tie_order, step=1)
    assert result.curves[0].tolist() == pytest.approx(expected, abs=1e-6)


def test_many_ties_on_a_larger_map_follow_pixel_index() -> None:
    """Four saliency levels over 32x32 pixels: Python's stable sort gives the expected order."""
    generator = torch.Generator().manual_seed(5)
    image = torch.randn(1, 1, 32, 32, generator=generator)
    levels = torch.tensor([0.0, 0.25, 0.5, 1.0])
    saliency = levels[torch.randint(0, 4, (1, 32, 32), generator=generator)]
    values, weights = image.flatten().tolist(), saliency.flatten().tolist()
    order = sorted(range(len(values)), key=lambda p: -weights[p])
    total, expected = sum(values), []
    for t in range(len(values) + 1):
        expected.append(sigmoid(GAIN * total / len(values)))
        if t < len(values):
            total -= values[order[t]]
    result = deletion(step=1)(MeanSigmoidToy(GAIN), image, saliency, FIRST, chunk_size=256)
    assert result.curves[0].tolist() == pytest.approx(expected, abs=1e-6)


# --- Invariances ---


def random_batch(n_images: int = 4, height: int = 6, width: int = 7, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n_images, 3, height, width, generator=generator)
    maps = torch.rand(n_images, height, width, generator=generator)
    classes = torch.tensor([0, 3, 1, 4])[:n_images]
    return images, maps, classes


@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_chunk_size_never_changes_a_curve(kind: str) -> None:
    images, maps, classes = random_batch()
    model = LinearToy((3, 6, 7))
    metric = CausalMetric(kind, step=5, blur_kernel=3, blur_sigma=1.0)
    curves = [metric(model, images, maps, classes, chunk_size=c).curves for c in (1, 3, 1000)]
    assert torch.equal(curves[0], curves[1])
    assert torch.equal(curves[0], curves[2])
    assert not torch.isnan(curves[0]).any()


@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_strictly_increasing_transform_of_map_gives_same_curve(kind: str) -> None:
    images, maps, classes = random_batch()
    model = LinearToy((3, 6, 7))
    metric = CausalMetric(kind, step=3, blur_kernel=3, blur_sigma=1.0)
    reference = metric(model, images, maps, classes).curves
    for transformed in (maps.exp(), maps**3 + 2):
        assert torch.equal(metric(model, images, transformed, classes).curves, reference)
    # the inverse map orders pixels the other way round, so the curve does change
    assert not torch.equal(metric(model, images, 1 - maps, classes).curves, reference)


def test_confidence_chunk_size_never_changes_a_result() -> None:
    images, maps, classes = random_batch()
    model = LinearToy((3, 6, 7))
    for mode in ("continuous", "top50"):
        results = [confidence(model, images, maps, classes, mode, chunk_size=c) for c in (1, 3)]
        assert torch.equal(results[0].explained, results[1].explained)
        assert torch.equal(results[0].original, results[1].original)


# --- Endpoints and exact forward counts ---


@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_endpoints_reuse_gives_same_curves_and_exact_costs(kind: str) -> None:
    images, maps, classes = random_batch(n_images=3, height=5, width=5)
    model = counted(LinearToy((3, 5, 5)))
    metric = CausalMetric(kind, step=3, blur_kernel=3, blur_sigma=1.0)
    n_steps = metric.n_steps(5, 5)
    assert n_steps == 9  # ceil(25 / 3)

    with model.measure() as cost_alone:
        alone = metric(model, images, maps, classes, chunk_size=4)
    with model.measure() as cost_ends:
        ends = metric.endpoints(model, images, classes, chunk_size=4)
    with model.measure() as cost_reused:
        reused = metric(model, images, maps, classes, endpoints=ends, chunk_size=4)

    assert torch.equal(alone.curves, reused.curves)
    assert torch.equal(reused.curves[:, [0, -1]], ends)
    assert cost_alone.forward == 3 * (n_steps + 1)
    assert cost_ends.forward == 3 * 2
    assert cost_reused.forward == 3 * (n_steps - 1)
    assert cost_alone.backward == cost_reused.backward == 0


def test_endpoints_take_known_original_probability() -> None:
    images, maps, classes = random_batch(n_images=3, height=5, width=5)
    model = counted(LinearToy((3, 5, 5)))
    original = confidence(model, images, maps, classes).original
    for metric in (deletion(step=4), insertion(step=4, blur_kernel=3, blur_sigma=1.0)):
        with model.measure() as cost:
            ends = metric.endpoints(model, images, classes, original_probs=original)
        assert cost.forward == 3
        assert torch.equal(ends, metric.endpoints(model, images, classes))
    x_end = {"deletion": 0, "insertion": 1}
    for kind, column in x_end.items():
        ends = CausalMetric(kind, step=4, blur_kernel=3).endpoints(model, images, classes)
        assert torch.equal(ends[:, column], original)


def test_single_step_curve_costs_no_inner_forward() -> None:
    images, maps, classes = random_batch(n_images=2, height=4, width=4)
    model = counted(LinearToy((3, 4, 4)))
    metric = deletion(step=16)
    ends = metric.endpoints(model, images, classes)
    with model.measure() as cost:
        result = metric(model, images, maps, classes, endpoints=ends)
    assert cost.forward == 0
    assert result.curves.shape == (2, 2)
    assert result.auc.tolist() == pytest.approx(ends.mean(dim=1).tolist())


@pytest.mark.parametrize("given", [True, False])
def test_confidence_costs_one_forward_per_image_when_original_is_known(given: bool) -> None:
    images, maps, classes = random_batch()
    model = counted(LinearToy((3, 6, 7)))
    original = confidence(model, images, maps, classes).original if given else None
    with model.measure() as cost:
        result = confidence(model, images, maps, classes, "top50", original_probs=original)
    assert cost.forward == (4 if given else 8)
    if given:
        assert torch.equal(result.original, original)


# --- Presets ---


def test_presets_hold_the_published_protocols() -> None:
    assert preset("rise") == CausalPreset(step=224, blur_kernel=11, blur_sigma=5.0)
    assert preset("groupcam") == CausalPreset(step=448, blur_kernel=51, blur_sigma=50.0)
    assert preset("fast") == CausalPreset(step=1792, blur_kernel=11, blur_sigma=5.0)
    assert set(PRESETS) == {"rise", "groupcam", "fast"}
    assert deletion("groupcam") == CausalMetric("deletion", 448, "zeros", 51, 50.0)
    assert insertion("fast") == CausalMetric("insertion", 1792, "blur", 11, 5.0)
    assert insertion("rise", substrate="zeros").substrate == "zeros"
    assert deletion().n_steps(224, 224) == 224
    assert deletion("groupcam").n_steps(224, 224) == 112
    assert deletion("fast").n_steps(224, 224) == 28
    assert deletion(step=7).n_steps(5, 5) == 4  # 25 / 7 is not whole: the last step moves 4


def test_unknown_preset_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="rise, groupcam, fast"):
        preset("petsiuk")
    with pytest.raises(ValueError, match="valid"):
        deletion("petsiuk")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="substrate"):
        CausalMetric("deletion", substrate="noise")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="causal metric"):
        CausalMetric("shuffle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="step"):
        CausalMetric("insertion", step=0)


@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_non_divisible_step_curve_has_n_steps_plus_one_points_and_ends_at_finish(
    kind: str,
) -> None:
    images, maps, classes = random_batch(n_images=2, height=5, width=5)
    classes = torch.tensor([0, 1])
    metric = CausalMetric(kind, step=7, blur_kernel=3, blur_sigma=1.0)
    result = metric(MeanSigmoidToy(GAIN), images, maps, classes)
    assert result.curves.shape == (2, 5)
    finish = metric.start_finish(images)[1]
    p0 = torch.sigmoid(GAIN * finish.double().mean(dim=(1, 2, 3)))
    expected = [p0[0].item(), 1 - p0[1].item()]
    assert result.curves[:, -1].tolist() == pytest.approx(expected, abs=1e-6)
    if kind == "deletion":
        assert result.curves[:, -1].tolist() == pytest.approx([0.5, 0.5], abs=1e-6)


@pytest.mark.parametrize(("name", "n_points"), [("fast", 29), ("rise", 225)])
def test_presets_on_a_full_size_image(name: str, n_points: int) -> None:
    generator = torch.Generator().manual_seed(2)
    images = torch.randn(1, 1, 224, 224, generator=generator)
    maps = torch.rand(1, 224, 224, generator=generator)
    result = insertion(name)(MeanSigmoidToy(GAIN), images, maps, FIRST, chunk_size=128)
    assert result.curves.shape == (1, n_points)
    assert result.curves[0, -1].item() == pytest.approx(
        torch.sigmoid(GAIN * images.double().mean()).item(), abs=1e-6
    )


# --- Average Drop and Increase in Confidence ---


def test_average_drop_and_increase_continuous_by_hand() -> None:
    images = torch.tensor([[[[1.0, -2.0], [3.0, 0.5]]], [[[2.0, 1.0], [-1.0, 0.0]]]])
    maps = torch.tensor([[[1.0, 0.0], [0.5, 0.25]], [[0.2, 1.0], [0.0, 0.6]]])
    classes = torch.tensor([0, 0])
    result = confidence(MeanSigmoidToy(GAIN), images, maps, classes, "continuous")
    # image 0: mean x = 2.5 / 4, mean x * L = (1 + 0 + 1.5 + 0.125) / 4  -> O > Y
    # image 1: mean x = 2 / 4,   mean x * L = (0.4 + 1 + 0 + 0) / 4      -> O < Y
    y = [sigmoid(GAIN * 2.5 / 4), sigmoid(GAIN * 2.0 / 4)]
    o = [sigmoid(GAIN * 2.625 / 4), sigmoid(GAIN * 1.4 / 4)]
    drop = [0.0, 100 * (y[1] - o[1]) / y[1]]
    assert result.original.tolist() == pytest.approx(y, abs=1e-6)
    assert result.explained.tolist() == pytest.approx(o, abs=1e-6)
    assert result.drop.tolist() == pytest.approx(drop, abs=1e-4)
    assert result.increase.tolist() == [1.0, 0.0]
    summary = summarize_confidence(result)
    assert summary.average_drop == pytest.approx(sum(drop) / 2, abs=1e-4)
    assert summary.increase_in_confidence == pytest.approx(50.0)
    assert summary.mean_explained == pytest.approx(sum(o) / 2, abs=1e-6)
    assert (summary.n_scored, summary.n_skipped) == (2, 0)


def test_top50_uses_lower_median_and_keeps_ties() -> None:
    # even count: values 0.1 0.4 0.6 0.6 -> lower median 0.4 keeps 3 pixels (upper would keep 2)
    even = torch.tensor([[[0.1, 0.4], [0.6, 0.6]]])
    assert explanation_masks(even, "top50").tolist() == [[[0.0, 1.0], [1.0, 1.0]]]
    # odd count with ties at the median 0.5: all four 0.5s and the 0.9 are kept (5 of 9)
    odd = torch.tensor([[[0.1, 0.5, 0.5], [0.5, 0.2, 0.9], [0.5, 0.3, 0.0]]])
    kept = [[[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 0.0, 0.0]]]
    assert explanation_masks(odd, "top50").tolist() == kept
    assert torch.equal(explanation_masks(odd, "continuous"), odd)


def test_average_drop_and_increase_top50_by_hand() -> None:
    images = torch.tensor([[[[1.0, -2.0], [3.0, 0.5]]], [[[-1.0, 2.0], [-3.0, 1.0]]]])
    maps = torch.tensor([[[0.1, 0.4], [0.6, 0.6]], [[0.9, 0.3], [0.3, 0.2]]])
    classes = torch.tensor([1, 0])
    result = confidence(MeanSigmoidToy(GAIN), images, maps, classes, "top50")
    # image 0, class 1: keeps pixels 1, 2, 3 -> mean (-2 + 3 + 0.5) / 4; p_1 = sigmoid(-gain * m)
    # image 1, class 0: values 0.2 0.3 0.3 0.9, lower median 0.3 keeps pixels 0, 1, 2
    y = [sigmoid(-GAIN * 2.5 / 4), sigmoid(GAIN * -1.0 / 4)]
    o = [sigmoid(-GAIN * 1.5 / 4), sigmoid(GAIN * -2.0 / 4)]
    assert result.original.tolist() == pytest.approx(y, abs=1e-6)
    assert result.explained.tolist() == pytest.approx(o, abs=1e-6)
    assert result.increase.tolist() == [1.0, 0.0]
    assert result.drop.tolist() == pytest.approx([0.0, 100 * (y[1] - o[1]) / y[1]], abs=1e-4)


def test_continuous_mode_refuses_maps_outside_unit_range() -> None:
    images, maps, classes = random_batch()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        confidence(LinearToy((3, 6, 7)), images, maps * 5, classes)
    with pytest.raises(ValueError, match="mode"):
        confidence(LinearToy((3, 6, 7)), images, maps, classes, "top10")  # type: ignore[arg-type]


def test_results_of_batches_join() -> None:
    images, maps, classes = random_batch()
    model = LinearToy((3, 6, 7))
    whole = confidence(model, images, maps, classes)
    parts = [
        confidence(model, images[i : i + 2], maps[i : i + 2], classes[i : i + 2]) for i in (0, 2)
    ]
    joined = ConfidenceResult.cat(parts)
    assert torch.allclose(joined.drop, whole.drop)


# --- Invalid maps ---


def invalid_batch():
    images, maps, classes = random_batch()
    maps = maps.clone()
    maps[0] = 0.3  # constant
    maps[2, 1, 1] = float("nan")
    return images, maps, classes


def test_invalid_maps_flags_constant_nan_and_infinite() -> None:
    _, maps, _ = invalid_batch()
    assert invalid_maps(maps).tolist() == [True, False, True, False]
    maps[1, 0, 0] = float("inf")
    assert invalid_maps(maps).tolist() == [True, True, True, False]


@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_invalid_maps_give_nan_curves_and_cost_nothing(kind: str) -> None:
    images, maps, classes = invalid_batch()
    model = counted(LinearToy((3, 6, 7)))
    metric = CausalMetric(kind, step=6, blur_kernel=3, blur_sigma=1.0)
    n_steps = metric.n_steps(6, 7)
    with model.measure() as cost:
        result = metric(model, images, maps, classes, chunk_size=5)
    assert cost.forward == 2 * (n_steps + 1)
    assert torch.isnan(result.curves[[0, 2]]).all()
    assert torch.isnan(result.auc[[0, 2]]).all()
    assert not torch.isnan(result.curves[[1, 3]]).any()
    assert result.scored.tolist() == [False, True, False, True]
    valid = metric(model, images[[1, 3]], maps[[1, 3]], classes[[1, 3]])
    assert torch.equal(result.curves[[1, 3]], valid.curves)
    mean, n_scored, n_skipped = summarize_auc(result)
    assert (n_scored, n_skipped) == (2, 2)
    assert mean == pytest.approx(valid.auc.double().mean().item())

    ends = metric.endpoints(model, images, classes)
    with model.measure() as cost:
        reused = metric(model, images, maps, classes, endpoints=ends)
    assert cost.forward == 2 * (n_steps - 1)
    assert torch.isnan(reused.curves[[0, 2]]).all()


@pytest.mark.parametrize("mode", ["continuous", "top50"])
def test_invalid_maps_give_nan_confidence_and_cost_nothing(mode: str) -> None:
    images, maps, classes = invalid_batch()
    model = counted(LinearToy((3, 6, 7)))
    with model.measure() as cost:
        result = confidence(model, images, maps, classes, mode)
    assert cost.forward == 2 * 2
    for values in (result.original, result.explained, result.drop, result.increase):
        assert torch.isnan(values[[0, 2]]).all()
        assert not torch.isnan(values[[1, 3]]).any()
    summary = summarize_confidence(result)
    assert (summary.n_scored, summary.n_skipped) == (2, 2)
    assert not math.isnan(summary.average_drop)


def test_all_maps_invalid_cost_nothing() -> None:
    images, maps, classes = random_batch()
    model = counted(LinearToy((3, 6, 7)))
    with model.measure() as cost:
        causal = deletion(step=5)(model, images, torch.zeros_like(maps), classes)
        conf = confidence(model, images, torch.full_like(maps, float("nan")), classes)
    assert cost.forward == 0
    assert torch.isnan(causal.curves).all()
    assert math.isnan(summarize_confidence(conf).average_drop)
    assert summarize_auc(causal)[1:] == (0, 4)
