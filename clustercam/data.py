"""Images to explain: the bundled photos, and reading one image file with a clear error."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from PIL import Image, UnidentifiedImageError

SAMPLES_DIR = Path(str(resources.files("clustercam") / "assets" / "samples"))


@dataclass(frozen=True)
class Sample:
    """One image to explain, with its ImageNet label (-1 when unknown)."""

    image_id: str
    path: Path
    label: int = -1
    acceptable: tuple[int, ...] = field(default=())


class UnreadableImageError(ValueError):
    """The file is missing or is not an image PIL can decode."""


def load_image(path: str | Path) -> Image.Image:
    """The image as RGB; an UnreadableImageError that names the file otherwise."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise UnreadableImageError(f"image file not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise UnreadableImageError(f"cannot read image {path}: {error}") from error


def bundled_samples() -> list[Sample]:
    """The 22 photos vendored in clustercam/assets/samples (see ATTRIBUTION.md there)."""
    with open(SAMPLES_DIR / "labels.csv", newline="") as handle:
        return [
            Sample(
                image_id=Path(row["file"]).stem,
                path=SAMPLES_DIR / row["file"],
                label=int(row["label"]),
                acceptable=tuple(int(i) for i in row["acceptable"].split(";")),
            )
            for row in csv.DictReader(handle)
        ]
