"""Which images of a data set a run explains: classes, per-class and total counts, shards.

The choice depends only on the data set's (sorted) order and `seed`, never on the machine or on
where a resumed run restarts; shards split the chosen subset, so N shards together are exactly the
unsharded run.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields

from clustercam.bench.data import Sample, class_index


@dataclass(frozen=True)
class Selection:
    """Subset options of a data set (every one optional).

    classes: keep only these classes (indices or wnids). per_class: at most this many images per
    class. n_images: at most this many images in all. Random choices use `seed`; the chosen images
    keep the data set's order. shard_index / shard_count: keep every shard_count-th chosen image,
    starting at shard_index.
    """

    n_images: int | None = None
    per_class: int | None = None
    classes: Sequence[int | str] | None = None
    seed: int = 0
    shard_index: int = 0
    shard_count: int = 1

    def __post_init__(self) -> None:
        for name in ("n_images", "per_class"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"data.{name} must be >= 1 (or null for all), got {value}")
        if self.shard_count < 1 or not 0 <= self.shard_index < self.shard_count:
            raise ValueError(
                f"data.shard_index must be in 0..shard_count-1, got shard {self.shard_index} "
                f"of {self.shard_count}"
            )

    def apply(self, samples: Sequence[Sample]) -> list[Sample]:
        chosen = list(samples)
        if self.classes is not None:
            wanted = {class_index(c) for c in self.classes}
            chosen = [s for s in chosen if s.label in wanted]
        if self.n_images is not None or self.per_class is not None:
            position = {s.image_id: i for i, s in enumerate(chosen)}
            picked = random.Random(self.seed).sample(chosen, len(chosen))
            if self.per_class is not None:
                taken: Counter[int] = Counter()
                kept = []
                for sample in picked:
                    if taken[sample.label] < self.per_class:
                        taken[sample.label] += 1
                        kept.append(sample)
                picked = kept
            chosen = sorted(picked[: self.n_images], key=lambda s: position[s.image_id])
        return chosen[self.shard_index :: self.shard_count]


SELECTION_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Selection))
