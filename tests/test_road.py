"""ROAD: closed forms on toys, exact costs, and agreement with pytorch-grad-cam's implementation
(removal masks, noisy linear imputation, MoRF / LeRF averages and the combined score) on a real
photo, where pytorch-grad-cam is installed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from toys import LinearToy, MeanSigmoidToy

from clustercam.cost import counted
from metrics.road import PERCENTILES, impute, removal_masks, road
from metrics.robustness import image_seed

SIZE = 24


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def dyadic_maps(n_maps: int, seed: int = 0) -> torch.Tensor:
    """Maps of multiples of 1/32 in [0, 1]: many ties, and 1 - L exact (pytorch-grad-cam's LeRF
    thresholds 1 - L, so other values could round two distinct pixels to one)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 33, (n_maps, SIZE, SIZE), generator=generator).float() / 32


def photo() -> torch.Tensor:
    """A bundled photo, normalised as the zoo does and shrunk to SIZE x SIZE (solves stay small)."""
    from clustercam.bench import bundled_samples, load_image

    sample = next(s for s in bundled_samples() if s.image_id == "chelsea")
    pixels = torch.from_numpy(np.asarray(load_image(sample.path), dtype=np.float32) / 255)
    image = F.interpolate(pixels.permute(2, 0, 1)[None], size=(SIZE, SIZE), mode="area")[0]
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    return (image - mean) / std


# --- Closed forms on toys ---


def test_removal_fractions_of_a_map_without_ties_by_hand() -> None:
    # 100 distinct values 0..99: the (1 - q)-quantile of MoRF at q = 0.3 is 69.3, so the 30 values
    # 70..99 go; LeRF's q-quantile is 29.7, so the 30 values 0..29 go.
    maps = torch.arange(100.0).view(1, 10, 10)
    masks = removal_masks(maps, [30])
    assert torch.equal(masks[0, 0, 0].flatten(), torch.arange(100) >= 70)
    assert torch.equal(masks[0, 1, 0].flatten(), torch.arange(100) <= 29)


def test_ties_at_the_threshold_are_removed_together() -> None:
    # Half the pixels 0, half 1: at q = 0.1 MoRF's threshold is 1 (every 1 goes, 50 %), LeRF's 0.
    maps = torch.cat([torch.zeros(1, 5, 10), torch.ones(1, 5, 10)], dim=1)
    masks = removal_masks(maps, [10])
    assert int(masks[0, 0, 0].sum()) == 50 and bool(masks[0, 0, 0][5:].all())
    assert int(masks[0, 1, 0].sum()) == 50 and bool(masks[0, 1, 0][:5].all())


def test_constant_image_is_imputed_exactly_and_scores_its_own_probability() -> None:
    # The weighted mean of equal neighbours is their value: every curve point is p_0(x) exactly,
    # so MoRF = LeRF = sigmoid(3 a) and the combined score is 0.
    value = 0.4
    images = torch.full((2, 3, SIZE, SIZE), value)
    maps = dyadic_maps(2)
    result = road(MeanSigmoidToy(), images, maps, torch.zeros(2, dtype=torch.long), noise=0.0)
    expected = sigmoid(3 * value)
    assert result.morf.shape == result.lerf.shape == (2, len(PERCENTILES))
    torch.testing.assert_close(result.morf, torch.full_like(result.morf, expected))
    torch.testing.assert_close(result.lerf, torch.full_like(result.lerf, expected))
    torch.testing.assert_close(result.combined, torch.zeros(2, dtype=torch.float64))


def test_one_removed_pixel_is_the_weighted_mean_of_its_neighbours_by_hand() -> None:
    image = torch.arange(9.0).view(1, 3, 3) ** 2  # 0 1 4 / 9 16 25 / 36 49 64
    removed = torch.zeros(1, 3, 3, dtype=torch.bool)
    removed[0, 1, 1] = True
    direct, diagonal = 1 + 9 + 25 + 49, 0 + 4 + 36 + 64
    filled = impute(image, removed)
    assert float(filled[0, 0, 1, 1]) == pytest.approx(direct / 6 + diagonal / 12)
    kept = ~removed[0]
    assert torch.equal(filled[0, 0][kept], image[0][kept].double())
    # A corner keeps 3 neighbours, weights 1/6, 1/6, 1/12 renormalised by their sum 5/12.
    removed = torch.zeros(1, 3, 3, dtype=torch.bool)
    removed[0, 0, 0] = True
    corner = impute(image, removed)[0, 0, 0, 0]
    assert float(corner) == pytest.approx((1 / 6 + 9 / 6 + 16 / 12) / (5 / 12))


def test_noise_is_seeded_per_image_on_removed_pixels_only() -> None:
    # The noise is `noise` times standard normal draws from the image's own generator, so a
    # result never depends on the batch and a rerun is identical.
    model = LinearToy((3, SIZE, SIZE))
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(3, 3, SIZE, SIZE, generator=generator)
    maps, classes = dyadic_maps(3), torch.tensor([0, 1, 2])
    together = road(model, images, maps, classes, seed=5)
    alone = road(model, images[1:2], maps[1:2], classes[1:2], seed=5)
    torch.testing.assert_close(together.morf[1:2], alone.morf, rtol=0, atol=1e-6)
    torch.testing.assert_close(road(model, images, maps, classes, seed=5).combined,
                               together.combined, rtol=0, atol=0)  # fmt: skip
    assert not torch.equal(road(model, images, maps, classes, seed=6).morf, together.morf)
    # Re-drawing the noise by hand: imputed + 0.01 * draws on the removed pixels.
    masks = removal_masks(maps[:1], [50])[0].flatten(0, 1)
    filled = impute(images[0], masks)
    draws = torch.randn(filled.shape, generator=torch.Generator().manual_seed(
        image_seed(images[0], 5)), dtype=torch.float64)  # fmt: skip
    noisy = filled + 0.01 * draws * masks[:, None]
    assert torch.equal(noisy[:, :, ~masks[0]][0], filled[:, :, ~masks[0]][0])


def test_costs_two_passes_per_fraction_and_nothing_for_invalid_maps() -> None:
    model = counted(LinearToy((3, SIZE, SIZE)))
    images = torch.randn(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    maps = dyadic_maps(3)
    maps[1] = 0.5  # constant: invalid
    with model.measure() as cost:
        result = road(model, images, maps, torch.tensor([0, 1, 2]), percentiles=[20, 60])
    assert cost.forward == 2 * 2 * 2  # 2 valid images x (MoRF + LeRF) x 2 fractions
    assert result.scored.tolist() == [True, False, True]
    assert torch.isnan(result.morf[1]).all() and result.imputation_seconds > 0


def test_refuses_fractions_outside_the_open_interval_and_negative_noise() -> None:
    images, maps = torch.zeros(1, 3, SIZE, SIZE), dyadic_maps(1)
    for percentiles in ([0, 50], [100], []):
        with pytest.raises(ValueError, match="percentiles"):
            road(MeanSigmoidToy(), images, maps, torch.zeros(1, dtype=torch.long), percentiles)
    with pytest.raises(ValueError, match="noise"):
        road(MeanSigmoidToy(), images, maps, torch.zeros(1, dtype=torch.long), noise=-1.0)


# --- pytorch-grad-cam (its ROAD is Rong et al.'s code) on a real photo ---

pgc_road = pytest.importorskip("pytorch_grad_cam.metrics.road")
pgc_perturbation = pytest.importorskip("pytorch_grad_cam.metrics.perturbation_confidence")


def test_removal_masks_equal_pytorch_grad_cam() -> None:
    # Its MoRF / LeRF at percentile p remove 1 - p / 100 of the pixels: ours at 100 - p.
    maps = dyadic_maps(4)
    noiseless = pgc_road.NoisyLinearImputer(noise=0.0)
    for p in PERCENTILES:
        ours = removal_masks(maps, [100 - p])
        for kind, remover in enumerate(
            (pgc_perturbation.RemoveMostRelevantFirst, pgc_perturbation.RemoveLeastRelevantFirst)
        ):
            for b, cam in enumerate(maps):
                seen = {}
                remover(p, lambda image, kept, s=seen: s.setdefault("kept", kept))(None, cam)
                assert torch.equal(ours[b, kind, 0], seen["kept"] == 0), (p, kind, b)
    assert noiseless.noise == 0.0


def test_imputation_equals_pytorch_grad_cam_on_a_photo() -> None:
    image = photo()
    masks = removal_masks(dyadic_maps(2), [10, 50, 90]).flatten(0, 2)
    ours = impute(image, masks)
    imputer = pgc_road.NoisyLinearImputer(noise=0.0)
    for mask, filled in zip(masks, ours):
        theirs = imputer(image, (~mask).float())  # theirs: 1 = kept
        torch.testing.assert_close(filled.float(), theirs, rtol=1e-5, atol=1e-5)


def test_a_mask_that_removes_every_pixel_gives_zeros_as_pytorch_grad_cam() -> None:
    # Nothing is left to impute from (a singular system, zero right-hand side): both solvers
    # return zeros, the normalised mean image. A map with one value almost everywhere (the fake
    # map) removes every pixel at each LeRF fraction, since ties at the threshold go together.
    image = photo()
    everything = torch.ones(1, SIZE, SIZE, dtype=torch.bool)
    theirs = pgc_road.NoisyLinearImputer(noise=0.0)(image, torch.zeros(SIZE, SIZE))
    assert torch.equal(impute(image, everything)[0].float().abs(), theirs.abs())
    assert not theirs.abs().any()


def test_road_scores_equal_pytorch_grad_cam_without_noise(monkeypatch) -> None:
    # Its ROAD classes build NoisyLinearImputer() with noise 0.01 from the global generator; with
    # the noise off, its averages over percentiles 10..90 are our AUCs minus p_c(x) (it reports
    # differences), and its ROADCombined is our combined score.
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    monkeypatch.setattr(pgc_road.NoisyLinearImputer.__init__, "__defaults__",
                        (0.0, pgc_road.neighbors_weights))  # fmt: skip
    model = LinearToy((3, SIZE, SIZE), n_classes=5).eval()
    images = torch.stack([photo(), photo().flip(-1)])
    cams = dyadic_maps(2, seed=3)
    classes = torch.tensor([1, 3])
    targets = [ClassifierOutputSoftmaxTarget(int(c)) for c in classes]
    ours = road(model, images, cams, classes, noise=0.0)
    with torch.no_grad():
        original = model(images).softmax(dim=1).gather(1, classes[:, None])[:, 0].double()
    arrays = cams.numpy()
    morf = pgc_road.ROADMostRelevantFirstAverage()(images, arrays, targets, model)
    lerf = pgc_road.ROADLeastRelevantFirstAverage()(images, arrays, targets, model)
    combined = pgc_road.ROADCombined()(images, arrays, targets, model)
    tolerance = {"rtol": 0, "atol": 1e-5}
    torch.testing.assert_close(ours.morf_auc - original, torch.from_numpy(morf).double(),
                               **tolerance)  # fmt: skip
    torch.testing.assert_close(ours.lerf_auc - original, torch.from_numpy(lerf).double(),
                               **tolerance)  # fmt: skip
    torch.testing.assert_close(ours.combined, torch.from_numpy(combined).double(), **tolerance)
    assert not torch.allclose(ours.morf_auc, ours.lerf_auc)  # the two orders do differ here
