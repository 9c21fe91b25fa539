"""Images decoded and transformed in a torch DataLoader, so that reading the next batch overlaps
the model's work on this one.

An unreadable image is not an error here: the data set returns the reason instead of a tensor and
the batch carries it, so the run records the image as skipped. Batches keep the data set's order.
Ground-truth boxes travel with their image, moved into the model input's pixels (`truths`); a
grid of the grid pointing game is rendered here (clustercam.bench.grids).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset

from clustercam.bench.boxes import input_boxes
from clustercam.bench.data import ClassBox, Sample, UnreadableImageError, load_image
from clustercam.bench.grids import GridSample

Truth = tuple[ClassBox, ...] | None


@dataclass
class LoadedBatch:
    """Samples of one batch in order; `images` stacks the readable ones (`readable` of them)."""

    samples: list[Sample]
    images: torch.Tensor | None
    readable: list[Sample]
    unreadable: dict[str, str]  # image_id -> reason
    truths: dict[str, tuple[ClassBox, ...]] = field(default_factory=dict)  # input pixels

    def pin_memory(self) -> LoadedBatch:
        """Called by the DataLoader (pin_memory=True) so that the copy to the GPU can be async."""
        if self.images is not None:
            self.images = self.images.pin_memory()
        return self


class ImageDataset(Dataset):
    """(sample, image tensor or the reason it could not be read) per index."""

    def __init__(self, samples: Sequence[Sample], transform: Callable) -> None:
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Sample, torch.Tensor | str, Truth]:
        sample = self.samples[index]
        try:
            if isinstance(sample, GridSample):
                return sample, *sample.render(self.transform)
            image = load_image(sample.path)
        except UnreadableImageError as error:
            return sample, str(error), None
        truth = None if sample.boxes is None else input_boxes(sample, image.size, self.transform)
        return sample, self.transform(image), truth


def collate(items: Sequence[tuple[Sample, torch.Tensor | str, Truth]]) -> LoadedBatch:
    readable = [(s, x) for s, x, _ in items if isinstance(x, torch.Tensor)]
    return LoadedBatch(
        samples=[s for s, _, _ in items],
        images=torch.stack([x for _, x in readable]) if readable else None,
        readable=[s for s, _ in readable],
        unreadable={s.image_id: x for s, x, _ in items if isinstance(x, str)},
        truths={s.image_id: t for s, _, t in items if t is not None},
    )


def image_batches(
    samples: Sequence[Sample],
    transform: Callable,
    batch_size: int,
    num_workers: int,
    pin_memory: bool,
) -> DataLoader:
    """Batches of `samples` in order, read by `num_workers` processes (0: in this one)."""
    return DataLoader(
        ImageDataset(samples, transform),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        prefetch_factor=2 if num_workers else None,
        persistent_workers=False,
    )
