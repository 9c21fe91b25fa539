"""Localisation metrics (metrics/localization.py) on maps and regions whose values are known by
hand: energy, pointing game with its tolerance and ties, Grad-CAM's box, relevance mass and rank.
"""

from __future__ import annotations

import math

import pytest
import torch

from metrics import (
    as_boxes,
    box_iou,
    box_localization,
    box_mask,
    box_masks,
    empty_regions,
    energy_pointing_game,
    largest_component_box,
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
)

H, W = 40, 60
BOX = (10, 5, 30, 20)  # x0, y0, x1, y1: columns 10..29, rows 5..19
BOX_AREA = 20 * 15


def region(box: tuple[float, float, float, float] = BOX) -> torch.Tensor:
    return box_mask([box], H, W)[None]


def one_hot(row: int, column: int, height: int = H, width: int = W) -> torch.Tensor:
    maps = torch.zeros(1, height, width)
    maps[0, row, column] = 1.0
    return maps


# Rasterisation ------------------------------------------------------------------------------


def test_box_mask_holds_exactly_the_half_open_integer_box() -> None:
    mask = box_mask([BOX], H, W)
    expected = torch.zeros(H, W, dtype=torch.bool)
    expected[5:20, 10:30] = True
    assert torch.equal(mask, expected)


def test_box_mask_of_a_fractional_box_takes_the_pixels_whose_centre_is_inside() -> None:
    # Centres 2.5, 3.5, 4.5 lie in [2.4, 5.5); 5.5 does not (half-open). Rows: 0.5 in [0.5, 1.5).
    mask = box_mask([(2.4, 0.5, 5.5, 1.5)], 4, 8)
    assert mask.nonzero().tolist() == [[0, 2], [0, 3], [0, 4]]


def test_box_mask_is_the_union_and_clips_to_the_map() -> None:
    mask = box_mask([(0, 0, 2, 2), (1, 1, 3, 3), (-5, 3, 100, 9)], 4, 4)
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[0:2, 0:2] = expected[1:3, 1:3] = True
    expected[3, :] = True
    assert torch.equal(mask, expected)


def test_box_masks_gives_an_empty_region_to_an_image_without_box() -> None:
    masks = box_masks([[BOX], [], torch.zeros(0, 4)], H, W)
    assert masks.shape == (3, H, W)
    assert empty_regions(masks).tolist() == [False, True, True]


def test_as_boxes_refuses_malformed_boxes() -> None:
    with pytest.raises(ValueError, match="x1 >= x0"):
        as_boxes([(5, 0, 4, 1)])
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        as_boxes([(1, 2, 3)])
    with pytest.raises(ValueError, match="finite"):
        as_boxes([(0, 0, math.inf, 1)])


# Energy-based pointing game and relevance mass ------------------------------------------------


def test_a_map_entirely_inside_the_box_has_energy_one_and_points_inside() -> None:
    maps = torch.zeros(1, H, W)
    maps[0, 8:12, 15:25] = torch.linspace(0.1, 1.0, 40).reshape(4, 10)
    assert energy_pointing_game(maps, region()).tolist() == [1.0]
    assert relevance_mass_accuracy(maps, region()).tolist() == [1.0]
    assert pointing_game(maps, region(), tolerance=0).tolist() == [1.0]
    assert pointing_game(maps, region()).tolist() == [1.0]


def test_a_uniform_map_is_skipped_and_a_nearly_uniform_one_gives_the_box_share() -> None:
    # A constant map ranks nothing: NaN (metrics.validity). One zero pixel outside the box makes
    # it valid: energy = box area / (H W - 1), the box's share of the map's energy.
    assert math.isnan(float(energy_pointing_game(torch.ones(1, H, W), region())))
    maps = torch.ones(1, H, W)
    maps[0, H - 1, W - 1] = 0.0
    energy = float(energy_pointing_game(maps, region()))
    assert energy == pytest.approx(BOX_AREA / (H * W - 1), abs=1e-12)


def test_energy_counts_the_positive_part_only() -> None:
    maps = torch.zeros(1, H, W)
    maps[0, 10, 15] = 3.0  # inside
    maps[0, 30, 50] = 1.0  # outside
    maps[0, 0, 0] = -100.0  # negative evidence outside: ignored
    assert float(energy_pointing_game(maps, region())) == pytest.approx(0.75, abs=1e-12)


def test_relevance_mass_by_hand_on_a_small_map() -> None:
    maps = torch.tensor([[[4.0, 1.0, 0.0], [2.0, -3.0, 1.0], [0.0, 0.0, 2.0]]])
    mask = torch.tensor([[[True, True, False], [False, True, False], [False, False, False]]])
    # Positive total 4 + 1 + 2 + 1 + 2 = 10; inside 4 + 1 + max(-3, 0) = 5.
    assert float(relevance_mass_accuracy(maps, mask)) == pytest.approx(0.5, abs=1e-12)


def test_no_positive_value_gives_nan_mass() -> None:
    maps = -torch.rand(1, 4, 4) - 0.1
    assert math.isnan(float(relevance_mass_accuracy(maps, torch.ones(1, 4, 4, dtype=torch.bool))))


# Relevance rank accuracy --------------------------------------------------------------------


def test_relevance_rank_by_hand_on_a_small_map() -> None:
    maps = torch.tensor([[[9.0, 8.0, 1.0], [7.0, 2.0, 3.0], [0.0, 6.0, 5.0]]])
    mask = torch.tensor([[[True, False, False], [True, True, False], [False, False, True]]])
    # K = 4: the top 4 are 9, 8, 7, 6; inside the mask: 9 and 7 -> 2 / 4.
    assert float(relevance_rank_accuracy(maps, mask)) == pytest.approx(0.5, abs=1e-12)


def test_relevance_rank_splits_ties_at_the_kth_value_evenly() -> None:
    maps = torch.tensor([[[5.0, 1.0, 1.0, 1.0, 1.0, 0.0]]])
    mask = torch.tensor([[[False, True, True, False, False, False]]])
    # K = 2: 5 (outside) is above, one slot left for the four tied 1s of which 2 are inside:
    # 1 slot x 2 / 4 = 0.5 hits, rank = 0.5 / 2.
    assert float(relevance_rank_accuracy(maps, mask)) == pytest.approx(0.25, abs=1e-12)


def test_relevance_rank_is_one_for_a_map_peaking_on_the_whole_region() -> None:
    maps = torch.rand(1, H, W, generator=torch.Generator().manual_seed(0)) * 0.5
    maps[region()] += 1.0
    assert float(relevance_rank_accuracy(maps, region())) == 1.0


# Pointing game -----------------------------------------------------------------------------

LAST_COLUMN = BOX[2] - 1  # the box's rightmost pixel column
MIDDLE_ROW = 12


@pytest.mark.parametrize(
    ("offset", "tolerance", "hit"),
    [
        (0, 0, 1.0),  # on the box's last column
        (14, 15, 1.0),
        (16, 15, 0.0),
        (15, 15, 0.0),  # exactly 15 px: strictly less is asked (TorchRay)
        (14, 0, 0.0),
        (16, 0, 0.0),
        (1, 0, 0.0),
        (1, 1.5, 1.0),
    ],
)
def test_pointing_game_tolerance_at_the_box_edge(offset: int, tolerance: float, hit: float) -> None:
    maps = one_hot(MIDDLE_ROW, LAST_COLUMN + offset)
    assert pointing_game(maps, region(), tolerance=tolerance).tolist() == [hit]


def test_pointing_game_tolerance_is_euclidean() -> None:
    # Below and right of the bottom-right pixel (row 19, column 29): (9, 11) is 14.21 px away,
    # (9, 12) exactly 15 and (11, 11) 15.56.
    corner_row, corner_column = BOX[3] - 1, BOX[2] - 1
    for (down, right), hit in [((9, 11), 1.0), ((9, 12), 0.0), ((11, 11), 0.0)]:
        maps = one_hot(corner_row + down, corner_column + right)
        assert pointing_game(maps, region()).tolist() == [hit]


def test_pointing_game_ties_rules() -> None:
    maps = torch.zeros(1, H, W)
    maps[0, 0, 59] = 1.0  # first maximum in row-major order, far outside
    maps[0, 10, 20] = 1.0  # second maximum, inside
    assert pointing_game(maps, region(), ties="first").tolist() == [0.0]
    assert pointing_game(maps, region(), ties="any").tolist() == [1.0]
    assert pointing_game(maps, region(), ties="all").tolist() == [0.0]
    maps[0, 0, 59] = 0.0
    maps[0, 19, 29] = 1.0  # both maxima inside now
    assert pointing_game(maps, region(), ties="all").tolist() == [1.0]


def test_pointing_game_refuses_bad_options() -> None:
    with pytest.raises(ValueError, match="ties"):
        pointing_game(one_hot(0, 0), region(), ties="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tolerance"):
        pointing_game(one_hot(0, 0), region(), tolerance=-1)


# Invalid maps and missing ground truth ------------------------------------------------------


def test_invalid_maps_and_empty_regions_give_nan_per_image() -> None:
    good = one_hot(10, 15)[0] + 0.5 * region()[0]  # all its energy and top pixels in the box
    nan_map = good.clone()
    nan_map[0, 0] = math.nan
    maps = torch.stack([good, torch.full((H, W), 0.3), nan_map, good])
    regions = torch.cat([region(), region(), region(), torch.zeros(1, H, W, dtype=torch.bool)])
    for metric in (
        energy_pointing_game,
        relevance_mass_accuracy,
        relevance_rank_accuracy,
        pointing_game,
    ):
        values = metric(maps, regions)
        assert values[0] == 1.0, metric
        assert torch.isnan(values[1:]).all(), metric
    assert empty_regions(regions).tolist() == [False, False, False, True]


def test_regions_must_match_the_maps() -> None:
    with pytest.raises(ValueError, match="regions"):
        energy_pointing_game(torch.rand(2, H, W), region())


# Grad-CAM box localisation -----------------------------------------------------------------


def test_the_largest_component_box_is_the_big_blob_box() -> None:
    saliency = torch.zeros(H, W)
    saliency[4:14, 6:26] = 0.5  # the big blob: 10 rows x 20 columns, at (6, 4, 26, 14)
    saliency[8, 10] = 1.0  # its peak
    saliency[30:35, 40:50] = 0.9  # a smaller but brighter blob
    saliency[20, 55] = 0.1  # below 15 % of the peak: background
    box = largest_component_box(saliency)
    assert box is not None and box.tolist() == [6.0, 4.0, 26.0, 14.0]


def test_components_are_eight_connected() -> None:
    saliency = torch.zeros(H, W)
    for step in range(6):  # a diagonal chain of 6 pixels: one component with 8-connectivity
        saliency[2 + step, 3 + step] = 1.0
    saliency[30:32, 30:32] = 1.0  # 4 pixels: smaller than the chain
    box = largest_component_box(saliency)
    assert box is not None and box.tolist() == [3.0, 2.0, 9.0, 8.0]


def test_the_threshold_is_a_fraction_of_the_maximum() -> None:
    saliency = torch.zeros(H, W)
    saliency[0:10, 0:10] = 0.2  # 100 pixels at 20 % of the peak
    saliency[20:25, 20:25] = 1.0  # 25 pixels at the peak
    for threshold, expected in [(0.15, [0.0, 0.0, 10.0, 10.0]), (0.25, [20.0, 20.0, 25.0, 25.0])]:
        box = largest_component_box(saliency, threshold=threshold)
        assert box is not None and box.tolist() == expected


def test_box_iou_by_hand() -> None:
    iou = box_iou(
        [(0, 0, 10, 10)], [(5, 0, 15, 10), (0, 0, 10, 10), (20, 20, 30, 30), (2, 2, 4, 4)]
    )
    # 50 / 150; identical; disjoint; 4 / 100 (inside).
    assert iou.shape == (1, 4)
    assert iou[0].tolist() == pytest.approx([1 / 3, 1.0, 0.0, 0.04], abs=1e-12)


def test_box_localization_keeps_the_best_matching_box() -> None:
    maps = torch.zeros(3, H, W)
    maps[:, 0:10, 0:10] = 1.0  # predicted box (0, 0, 10, 10) everywhere
    maps[:, 39, 59] = 0.5  # tiny second component
    truth = [
        [(5, 0, 15, 10), (30, 30, 40, 40)],  # best IoU 1/3: not correct
        [(30, 30, 40, 40), (0, 0, 10, 8)],  # best IoU 80 / 100
        [],  # no ground truth
    ]
    result = box_localization(maps, truth)
    assert result.iou[:2].tolist() == pytest.approx([1 / 3, 0.8], abs=1e-12)
    assert result.correct[:2].tolist() == [0.0, 1.0]
    assert math.isnan(float(result.iou[2])) and math.isnan(float(result.correct[2]))
    assert result.boxes.tolist() == [[0.0, 0.0, 10.0, 10.0]] * 3
    assert box_localization(maps, truth, iou_threshold=0.3).correct[:2].tolist() == [1.0, 1.0]


def test_a_map_without_positive_value_has_no_box() -> None:
    saliency = -torch.rand(H, W, generator=torch.Generator().manual_seed(1))
    assert largest_component_box(saliency) is None
    result = box_localization(saliency[None], [[BOX]])
    assert torch.isnan(result.iou).all() and torch.isnan(result.boxes).all()


def test_box_localization_skips_invalid_maps() -> None:
    maps = torch.stack([torch.full((H, W), 0.5), one_hot(3, 4)[0]])
    result = box_localization(maps, [[BOX], [(4, 3, 5, 4)]])
    assert torch.isnan(result.iou[0]) and torch.isnan(result.boxes[0]).all()
    assert result.iou[1] == 1.0 and result.correct[1] == 1.0
    with pytest.raises(ValueError, match="one list per image"):
        box_localization(maps, [[BOX]])
