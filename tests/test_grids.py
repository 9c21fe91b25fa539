"""The grid pointing game (clustercam/bench/grids.py) on toys: the ground-truth cell is where its
photo went, grids are drawn from confidently classified photos of disjoint classes with a seed,
and a model whose logit reads one cell only gives Grad-CAM a perfect score and the centre map not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision import transforms as T
from toys import COLOURS, RegionModel, colour_zoo

from baselines import CenterMap, GradCAM
from clustercam.bench.data import Sample
from clustercam.bench.grids import GridSample, grid_samples
from clustercam.bench.localize import Localization, localization_columns

SIZE = 16  # the toys' input side: a 2 x 2 grid of 8-pixel cells
GREY = (0.5, 0.5, 0.5)  # equally far from the first three colours: no confident class


def photo(folder: Path, name: str, colour: tuple[float, ...], label: int) -> Sample:
    path = folder / f"{name}.png"
    pixels = tuple(round(255 * c) for c in colour)
    Image.new("RGB", (40, 30), pixels).save(path)
    return Sample(name, path, label, (label,))


def colour_photos(folder: Path) -> list[Sample]:
    """Red twice (one class), green, blue, white, and an unconfident grey."""
    named = [("red_a", 0), ("red_b", 0), ("green", 1), ("blue", 2), ("white", 3)]
    photos = [photo(folder, name, COLOURS[label], label) for name, label in named]
    return [*photos, photo(folder, "grey", GREY, 4)]


def test_the_ground_truth_cell_is_where_its_photo_was_placed(tmp_path: Path) -> None:
    cells = tuple(photo(tmp_path, f"c{k}", COLOURS[k], k) for k in range(4))
    transform = T.Compose([T.Resize((SIZE, SIZE)), T.ToTensor()])
    for position in range(4):
        explained = cells[position]
        grid = GridSample(explained.image_id, explained.path, explained.label, (explained.label,),
                          cells=cells, position=position)  # fmt: skip
        image, truth = grid.render(transform)
        assert image.shape == (3, SIZE, SIZE)
        [(label, x0, y0, x1, y1)] = truth
        row, column = divmod(position, 2)
        assert label == position
        assert (x0, y0, x1, y1) == (8 * column, 8 * row, 8 * column + 8, 8 * row + 8)
        inside = torch.zeros(SIZE, SIZE, dtype=torch.bool)
        inside[int(y0) : int(y1), int(x0) : int(x1)] = True
        colour = torch.tensor(COLOURS[position])[:, None]
        assert torch.allclose(image[:, inside], colour.expand(3, 64), atol=1e-6)
        assert not torch.isclose(image[:, ~inside], colour.expand(3, 192), atol=1e-6).all(0).any()


def test_grids_hold_confident_photos_of_disjoint_classes_drawn_from_the_seed(
    tmp_path: Path,
) -> None:
    photos, zoo = colour_photos(tmp_path), colour_zoo(size=SIZE)
    grids = grid_samples(zoo, photos, n=2, n_grids=30, threshold=0.9, seed=0)
    assert len(grids) == len({g.image_id for g in grids}) == 30
    for grid in grids:
        labels = [cell.label for cell in grid.cells]
        assert sorted(labels) == [0, 1, 2, 3]  # one red photo of the two, never the grey one
        assert grid.label == labels[grid.position] and grid.path == grid.cells[grid.position].path
    assert {g.cells[g.position].image_id for g in grids} >= {"red_a", "red_b", "green"}
    again = grid_samples(zoo, photos, n=2, n_grids=30, threshold=0.9, seed=0)
    other = grid_samples(zoo, photos, n=2, n_grids=30, threshold=0.9, seed=1)
    assert [g.image_id for g in again] == [g.image_id for g in grids]
    assert [g.image_id for g in other] != [g.image_id for g in grids]


def test_too_few_confident_photos_are_refused(tmp_path: Path) -> None:
    photos = [p for p in colour_photos(tmp_path) if p.image_id != "white"]
    with pytest.raises(ValueError, match=r"only 0 distinct 2 x 2 grids.*4 of 5 photos"):
        grid_samples(colour_zoo(size=SIZE), photos, n=2, n_grids=1, threshold=0.9)
    with pytest.raises(ValueError, match="n >= 2"):
        grid_samples(colour_zoo(size=SIZE), photos, n=1)


@pytest.mark.parametrize("position", range(4))
def test_gradcam_scores_one_on_a_toy_reading_one_cell_and_the_centre_map_does_not(
    tmp_path: Path, position: int
) -> None:
    cells = tuple(photo(tmp_path, f"c{k}", (0.2 + 0.2 * k,) * 3, 0) for k in range(4))
    grid = GridSample("grid", cells[position].path, 0, (0,), cells=cells, position=position)
    image, truth = grid.render(T.Compose([T.Resize((SIZE, SIZE)), T.ToTensor()]))
    model = RegionModel(size=SIZE, region=position).eval()  # class 0 reads this quadrant only
    spec = Localization(("energy", "pointing"), tolerance=0)
    scores = {}
    methods = {"gradcam": GradCAM(model, "features"), "center": CenterMap(model, "features")}
    for name, method in methods.items():
        maps = method(image[None], torch.tensor([0])).maps
        scores[name] = localization_columns(spec, maps, [truth], [0])
    assert scores["gradcam"]["energy_pg"] == [pytest.approx(1.0)]
    assert scores["gradcam"]["pointing_game"] == [1.0]
    # A centred bump spreads its energy evenly over the four cells.
    assert scores["center"]["energy_pg"] == [pytest.approx(0.25, abs=1e-6)]
    assert scores["center"]["gt_boxes"] == [1.0]
