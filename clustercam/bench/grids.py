"""The grid pointing game (GridPG, Rao, Böhle and Schiele, CVPR 2022): n x n grids of photos
with an answer known by construction.

Each cell holds one photo as the model sees it (its own resize and centre crop), shrunk to the
cell; the cells' photos share no acceptable class. The class explained is one cell's class, so a
map that puts positive attribution in any other cell points at the wrong object. As in GridPG,
only photos the model classifies confidently alone (the cell's pixels as the only input) are
used, and grids are drawn from a seed. Grid pixels are the model's input pixels: the ground truth
is the explained cell as one box in them (`GridSample.render`, which the loader calls).

Choosing the photos runs the model (`data.model`, built on the CPU, whatever the run's device, so
that the grids do not depend on it) on each photo's cell once, when the data set is built, also
at the config check of `python run.py`.

Not built: GridPG's DiFull setting (each cell through the backbone alone, the head on its own
cell). It needs a wrapper model that runs the layers up to the target layer on each cell apart
and stitches their activations into one map for the methods to hook; not done yet.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from clustercam.bench.data import ClassBox, Sample, load_image
from clustercam.bench.zoo import ZooModel

GRID_THRESHOLD = 0.5


@dataclass(frozen=True)
class GridSample(Sample):
    """A grid of `n` x `n` photos (`cells`, row-major); the explained one is `position`.

    `path` and `label` are the explained cell's photo and class (its box comes from `render`);
    `cell_size` is each cell's side (None: the photo's model input size / n,
    so the grid has the model's usual input size).
    """

    cells: tuple[Sample, ...] = ()
    position: int = 0
    n: int = 2
    cell_size: int | None = None

    def render(self, transform: Callable) -> tuple[torch.Tensor, tuple[ClassBox, ...]]:
        """(3, n * cell, n * cell) grid tensor and the explained cell's box in its pixels."""
        photos = [cell_tensor(c, transform, self.cell_size, self.n) for c in self.cells]
        rows = [torch.cat(photos[r * self.n : (r + 1) * self.n], dim=2) for r in range(self.n)]
        grid = torch.cat(rows, dim=1)
        side = photos[0].shape[-1]
        row, column = divmod(self.position, self.n)
        box = (float(column * side), float(row * side), float((column + 1) * side),
               float((row + 1) * side))  # fmt: skip
        return grid, ((self.label, *box),)


def cell_tensor(sample: Sample, transform: Callable, cell_size: int | None, n: int) -> torch.Tensor:
    """The photo through the model's transform, resized (antialiased bilinear) to the cell."""
    image = transform(load_image(sample.path))
    size = cell_size or image.shape[-1] // n
    if image.shape[-2:] == (size, size):
        return image
    return F.interpolate(
        image[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )[0]


def confident_cells(
    model: ZooModel, samples: Sequence[Sample], cell_size: int | None, n: int, threshold: float
) -> list[Sample]:
    """The photos whose cell alone the model classifies into one of their acceptable classes
    with probability >= `threshold`, relabelled with that class (the one the grid explains)."""
    kept = []
    for sample in samples:
        cell = cell_tensor(sample, model.transform, cell_size, n).to(model.device)
        with torch.no_grad():
            probabilities = model.model(cell[None]).float().softmax(dim=1)[0]
        confidence, predicted = (float(v) for v in probabilities.max(dim=0))
        accepted = sample.acceptable or (sample.label,)
        if int(predicted) in accepted and confidence >= threshold:
            kept.append(Sample(sample.image_id, sample.path, int(predicted), accepted))
    return kept


def grid_samples(
    model: ZooModel,
    source: Sequence[Sample],
    n: int = 2,
    n_grids: int = 200,
    cell_size: int | None = None,
    threshold: float = GRID_THRESHOLD,
    seed: int = 0,
) -> list[GridSample]:
    """`n_grids` distinct grids (layout and explained cell) drawn with `seed` from the photos of
    `source` that `model` classifies confidently alone; cells share no acceptable class.

    Raises:
        ValueError: bad sizes, or too few confident photos of disjoint classes for one grid.
    """
    if n < 2 or n_grids < 1 or not 0 <= threshold <= 1:
        raise ValueError(
            f"gridpg needs n >= 2, n_grids >= 1 and 0 <= threshold <= 1, got n={n}, "
            f"n_grids={n_grids}, threshold={threshold}"
        )
    pool = confident_cells(model, source, cell_size, n, threshold)
    generator = random.Random(seed)
    grids: dict[tuple[tuple[str, ...], int], GridSample] = {}
    attempts = 0
    while len(grids) < n_grids:
        attempts += 1
        if attempts > 100 * n_grids:
            raise ValueError(
                f"gridpg: only {len(grids)} distinct {n} x {n} grids of photos with disjoint "
                f"classes found: {len(pool)} of {len(source)} photos are classified with "
                f"probability >= {threshold} alone; lower data.threshold or data.n_grids, or "
                "use a larger source"
            )
        cells = _disjoint_draw(pool, n * n, generator)
        if cells is None:
            continue
        position = generator.randrange(n * n)
        key = (tuple(c.image_id for c in cells), position)
        if key in grids:
            continue
        index = len(grids)
        explained = cells[position]
        grids[key] = GridSample(
            image_id=f"grid{index:04d}_{'-'.join(key[0])}_p{position}",
            path=explained.path,
            label=explained.label,
            acceptable=explained.acceptable,
            boxes=None,
            cells=tuple(cells),
            position=position,
            n=n,
            cell_size=cell_size,
        )
    return list(grids.values())


def _disjoint_draw(
    pool: Sequence[Sample], count: int, generator: random.Random
) -> list[Sample] | None:
    """`count` photos in a random order, no two sharing an acceptable class (None if the greedy
    pass over one shuffle of the pool cannot find them)."""
    order = generator.sample(list(pool), len(pool))
    chosen: list[Sample] = []
    taken: set[int] = set()
    for sample in order:
        if taken.isdisjoint(sample.acceptable):
            chosen.append(sample)
            taken.update(sample.acceptable)
            if len(chosen) == count:
                return chosen
    return None
