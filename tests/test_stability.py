"""Stability measurement (clustercam/bench/stability.py) on toy models with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from toys import LinearGapModel, RegionModel

from baselines import GradCAM
from baselines.sanity import RandomMap
from clustercam import ClusterCAM
from clustercam.bench import stability


def region_images(n: int, size: int = 16) -> torch.Tensor:
    return 0.5 + 0.5 * torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


def map_mean(model, images, maps, classes) -> torch.Tensor:
    """A stand-in metric whose value is known: the mean of each map."""
    return maps.flatten(1).mean(1)


@pytest.fixture
def gap_model() -> LinearGapModel:
    generator = torch.Generator().manual_seed(0)
    return LinearGapModel(
        torch.randn(6, 3, generator=generator), torch.randn(4, 6, generator=generator)
    )


def test_spearman_properties_and_iou_by_counting() -> None:
    generator = torch.Generator().manual_seed(1)
    a, b = torch.rand(12, 12, generator=generator), torch.rand(12, 12, generator=generator)
    b[:3] = 0.5  # ties
    rho = stability.spearman(a, b)
    assert -1 < rho < 1
    # Ranks only: a strictly increasing transform of either map changes nothing.
    assert stability.spearman(torch.exp(3 * a), b.pow(3) - 2) == pytest.approx(rho, abs=1e-12)
    assert stability.spearman(b, a) == pytest.approx(rho, abs=1e-12)
    assert stability.spearman(a, -b) == pytest.approx(-rho, abs=1e-12)
    assert stability.spearman(a, a) == 1.0  # exactly
    assert stability.spearman(a, a**3) == pytest.approx(1.0)
    assert stability.spearman(a, 1 - a) == pytest.approx(-1.0)
    ramp = torch.arange(16.0).reshape(4, 4)
    assert stability.spearman(ramp, ramp.flatten().flip(0).reshape(4, 4)) == pytest.approx(-1.0)
    # Ties share their mean rank: [1, 2, 2, 3] against [1, 2, 3, 4] is rho = 4.5 / sqrt(4.5 * 5).
    tied, ramp = torch.tensor([1.0, 2.0, 2.0, 3.0]), torch.arange(4.0)
    assert stability.spearman(tied, ramp) == pytest.approx(4.5 / np.sqrt(4.5 * 5))
    assert stability.spearman(torch.zeros(4, 4), torch.zeros(4, 4)) == 1.0
    assert stability.spearman(torch.zeros(4, 4), torch.ones(4, 4)) == 1.0
    assert stability.spearman(torch.zeros(4, 4), a[:4, :4]) == 0.0
    assert stability.spearman(a[:4, :4], torch.full((4, 4), 7.0)) == 0.0
    with_nan = b.clone()
    with_nan[5, 5] = float("nan")
    assert np.isnan(stability.spearman(a, with_nan))
    ramp = torch.arange(100.0).reshape(10, 10)
    assert stability.top_iou(ramp, ramp) == 1.0
    # Top 15 of 100 vs the top 15 of the ramp shifted by 5: 10 shared of 20 in the union.
    assert stability.top_iou(ramp, (ramp + 5) % 100) == pytest.approx(10 / 20)


def test_deterministic_method_agrees_with_itself(gap_model) -> None:
    images = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    classes = torch.tensor([0, 1, 2])
    rows = stability.measure(
        lambda model, seed: GradCAM(model, "features"), gap_model, images, classes,
        ["a", "b", "c"], seeds=3, metrics={"mean": map_mean},
    )  # fmt: skip
    seeds = rows[rows["comparison"] == "seeds"]
    assert len(seeds) == 6 and (seeds["spearman"] == 1.0).all() and (seeds["top15_iou"] == 1).all()
    assert (rows[rows["comparison"] == "precision"]["spearman"] > 0.999).all()
    summary = stability.summarize_stability(rows, ["mean"]).set_index("comparison")
    assert summary.loc["seeds", "mean_spread_max"] == 0.0
    assert summary.loc["noise", "n_images"] == 3
    assert not stability.has_seed(lambda model, seed: GradCAM(model, "features"), gap_model)
    assert gap_model.features[0].weight.dtype == torch.float32  # the float64 run used a copy


def test_seeded_random_maps_disagree_as_independent_noise_does() -> None:
    model = RegionModel()
    images = region_images(n=4)
    rows = stability.measure(
        lambda net, seed: RandomMap(net, "features", seed=seed), model, images,
        torch.zeros(4, dtype=torch.long), list("abcd"), seeds=3, comparisons=("seeds",),
        metrics={"mean": map_mean},
    )  # fmt: skip
    n_pixels = images.shape[-1] * images.shape[-2]
    # Independent uniform maps: Spearman ~ N(0, 1/n); top-15% IoU ~ 0.15^2 / (0.3 - 0.15^2).
    assert (rows["spearman"].abs() < 4 / np.sqrt(n_pixels)).all()
    assert rows["top15_iou"].mean() == pytest.approx(0.0225 / 0.2775, abs=0.05)
    summary = stability.summarize_stability(rows, ["mean"])
    assert summary.loc[0, "mean_spread_max"] > 0
    assert stability.has_seed(lambda net, seed: RandomMap(net, "features", seed=seed), model)


def test_clustercam_farthest_is_seed_free_and_bad_comparisons_are_refused() -> None:
    model = RegionModel()
    images = region_images(n=2)
    make = lambda net, seed: ClusterCAM(net, "features", n_clusters=3, seed=seed, init="farthest")  # noqa: E731
    rows = stability.measure(make, model, images, torch.zeros(2, dtype=torch.long), ["a", "b"],
                             seeds=3, comparisons=("seeds",))  # fmt: skip
    assert (rows["spearman"] == 1.0).all()
    with pytest.raises(ValueError, match="unknown comparisons"):
        stability.measure(make, model, images, torch.zeros(2, dtype=torch.long), ["a", "b"],
                          comparisons=("device",))  # fmt: skip


def test_saved_maps_of_two_runs_are_compared(tmp_path) -> None:
    ramp = np.arange(64, dtype=np.float16).reshape(8, 8) / 64
    for run, other in (("cpu", ramp), ("gpu", ramp[::-1].copy())):
        (tmp_path / run / "maps").mkdir(parents=True)
        np.savez(tmp_path / run / "maps" / "img.npz", clustercam=other, gradcam=ramp)
    rows = stability.saved_map_agreement(tmp_path / "cpu", tmp_path / "gpu").set_index("method")
    assert rows.loc["gradcam", "spearman"] == 1.0
    assert rows.loc["clustercam", "spearman"] < 0
    with pytest.raises(FileNotFoundError, match="save_maps=true"):
        stability.saved_map_agreement(tmp_path / "cpu", tmp_path / "none")
