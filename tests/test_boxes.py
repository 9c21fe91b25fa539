"""Ground-truth boxes (clustercam/bench/boxes.py): through a model's real preprocessing onto the
very pixels the object lands on, and read from ILSVRC XML files and Kaggle's CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import timm.data
import torch
import torchvision
from PIL import Image, ImageDraw
from torchvision import transforms as T

from clustercam.bench.boxes import (
    BUNDLED_BOXES,
    ImageBoxes,
    Preprocessing,
    boxes_for_samples,
    class_boxes,
    class_wnid,
    ground_truth_boxes,
    preprocessing_of,
    read_bundled_boxes,
    read_ilsvrc_xml,
    read_ilsvrc_xml_folder,
    read_loc_solution_csv,
    transform_boxes,
)
from clustercam.bench.zoo import load_model
from metrics import box_mask

TENCH, GOLDFISH = "n01440764", "n01443537"  # ImageNet-1k classes 0 and 1


# The geometry by hand ------------------------------------------------------------------------


def test_resize_and_crop_arithmetic_by_hand() -> None:
    geometry = Preprocessing(resize=256, crop=224)
    # 500 x 375: the shorter side (375) -> 256, the longer int(256 * 500 / 375) = int(341.33).
    assert geometry.resized_size(500, 375) == (341, 256)
    # Crop origin: round((341 - 224) / 2) = round(58.5) = 58 (Python rounds half to even).
    assert geometry.crop_origin(341, 256) == (58, 16)
    assert geometry.output_size(500, 375) == (224, 224)
    boxes = transform_boxes([(111, 108, 441, 193)], (500, 375), geometry)
    scale_x, scale_y = 341 / 500, 256 / 375
    expected = [111 * scale_x - 58, 108 * scale_y - 16, 224.0, 193 * scale_y - 16]
    assert boxes.tolist() == [pytest.approx(expected, abs=1e-12)]


def test_a_crop_larger_than_the_image_pads_as_torchvision_does() -> None:
    # 180 x 100 -> resize 100 keeps it; crop 120: the width crops round(60 / 2) = 30, the
    # height pads (120 - 100) // 2 = 10 rows on top, so the origin is (30, -10).
    geometry = Preprocessing(resize=100, crop=120)
    assert geometry.crop_origin(180, 100) == (30, -10)
    assert transform_boxes([(40, 0, 50, 100)], (180, 100), geometry).tolist() == [
        [10.0, 10.0, 20.0, 110.0]
    ]


def test_boxes_are_clipped_to_the_crop_and_dropped_when_nothing_is_left() -> None:
    geometry = Preprocessing(resize=None, crop=100)  # 300 x 100 -> columns 100..199 kept
    boxes = [
        (50, 10, 150, 20),  # clipped on the left
        (0, 0, 90, 100),  # outside the crop: dropped
        (120, 30, 120.3, 60),  # inside but too thin to hold a pixel centre: dropped
        (190, -5, 400, 5),  # clipped on the right and at the top
    ]
    kept = transform_boxes(boxes, (300, 100), geometry)
    assert kept.tolist() == [[0.0, 10.0, 50.0, 20.0], [90.0, 0.0, 100.0, 5.0]]
    none_left = transform_boxes([(0, 0, 90, 100)], (300, 100), geometry)
    assert none_left.shape == (0, 4)
    assert transform_boxes([], (300, 100), geometry).shape == (0, 4)


def test_a_squash_resize_scales_each_axis_on_its_own() -> None:
    geometry = preprocessing_of(T.Compose([T.Resize((50, 200)), T.ToTensor()]))
    assert geometry == Preprocessing(resize=(50, 200), crop=None)
    assert transform_boxes([(10, 10, 20, 100)], (100, 100), geometry).tolist() == [
        [20.0, 5.0, 40.0, 50.0]
    ]


# The transforms of the zoo, read without weights ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "resize", "crop"),
    [
        ("efficientnet_lite0", 256, 224),  # floor(224 / 0.875)
        ("efficientnet_lite1", 272, 240),  # floor(240 / 0.882)
        ("efficientnet_lite2", 292, 260),  # floor(260 / 0.890)
        ("resnet18", 256, 224),
    ],
)
def test_the_zoo_transforms_are_read(name: str, resize: int, crop: int) -> None:
    transform = load_model(name, weights="random").transform
    geometry = preprocessing_of(transform)
    assert geometry.resize == resize
    assert geometry.output_size(640, 480) == (crop, crop)


def test_torchvision_and_timm_presets_are_read() -> None:
    vgg = torchvision.models.VGG16_Weights.IMAGENET1K_V1.transforms()
    assert preprocessing_of(vgg) == Preprocessing(resize=256, crop=224)
    resnet_v2 = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.transforms()
    assert preprocessing_of(resnet_v2) == Preprocessing(resize=232, crop=224)
    timm_eval = timm.data.create_transform(input_size=(3, 224, 224), crop_pct=0.95)
    assert preprocessing_of(timm_eval) == Preprocessing(resize=235, crop=(224, 224))


@pytest.mark.parametrize(
    "transform",
    [
        T.Compose([T.RandomResizedCrop(224), T.ToTensor()]),
        T.Compose([T.CenterCrop(224), T.Resize(256)]),
        T.Compose([T.ToTensor()]),
    ],
)
def test_unknown_geometry_is_refused(transform: Callable[..., Any]) -> None:
    with pytest.raises(ValueError):
        preprocessing_of(transform)


# Boxes land on the pixels: a drawn rectangle through the real preprocessing -------------------


def lite0_transform() -> Callable[..., torch.Tensor]:
    return load_model("efficientnet_lite0", weights="random").transform  # no download


TRANSFORMS: dict[str, Callable[[], Callable[..., Any]]] = {
    "lite0 (bicubic)": lite0_transform,
    "vgg16 (bilinear)": lambda: torchvision.models.VGG16_Weights.IMAGENET1K_V1.transforms(),
    "resize 200, crop 224 (pads)": lambda: T.Compose(
        [T.Resize(200), T.CenterCrop(224), T.ToTensor()]
    ),
}
# (width, height) and an integer box in the original image.
DRAWINGS = [
    ((500, 375), (111, 108, 441, 193)),
    ((448, 512), (56, 100, 300, 400)),
    ((333, 777), (10, 300, 250, 600)),  # leaves the crop at the bottom and on the right
    ((1024, 683), (500, 300, 540, 345)),  # small: 15 x 17 pixels after the resize
]


def whiteness(transform: Callable[..., Any], image: Image.Image) -> torch.Tensor:
    """(H, W) share of white in each pixel of the transformed image (0 black, 1 white): the
    transform's output rescaled between its outputs for an all-black and an all-white image, so
    that any normalisation cancels; 0 in the padding a crop larger than the image adds."""
    black = transform(Image.new("RGB", image.size, (0, 0, 0))).double()
    white = transform(Image.new("RGB", image.size, (255, 255, 255))).double()
    padding = white == black
    share = (transform(image).double() - black) / torch.where(padding, 1.0, white - black)
    return torch.where(padding, 0.0, share).mean(dim=0)


@pytest.mark.parametrize("name", list(TRANSFORMS))
@pytest.mark.parametrize(("size", "box"), DRAWINGS)
def test_the_transformed_box_covers_the_transformed_rectangle(
    name: str, size: tuple[int, int], box: tuple[int, int, int, int]
) -> None:
    """Tolerance: the pixels more than half white are exactly the box's pixels except in a band
    of 1 pixel around its edges (the resize filter's blur: the box shrunk by 1 px on each side
    lies inside them, the box grown by 1 px holds them all), and the white's centroid is within
    0.05 px of the box's centre (a half-pixel convention error moves it by 0.1 to 0.3 px)."""
    transform = TRANSFORMS[name]()
    image = Image.new("RGB", size, (0, 0, 0))
    ImageDraw.Draw(image).rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=(255, 255, 255))
    share = whiteness(transform, image)
    height, width = share.shape
    mapped = transform_boxes([box], size, transform)
    assert mapped.shape == (1, 4)
    white = share > 0.5
    one = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
    inner = box_mask(mapped + one, height, width)
    outer = box_mask(mapped - one, height, width)
    assert bool((inner <= white).all()) and bool((white <= outer).all())
    exact = box_mask(mapped, height, width)
    assert int((exact != white).sum()) <= 0.02 * int(exact.sum())

    weight = share.clamp(0, 1)
    rows = torch.arange(height, dtype=torch.float64)[:, None] + 0.5
    columns = torch.arange(width, dtype=torch.float64)[None, :] + 0.5
    centroid_x = float((weight * columns).sum() / weight.sum())
    centroid_y = float((weight * rows).sum() / weight.sum())
    x0, y0, x1, y1 = mapped[0].tolist()
    assert centroid_x == pytest.approx((x0 + x1) / 2, abs=0.05)
    assert centroid_y == pytest.approx((y0 + y1) / 2, abs=0.05)


# ILSVRC readers --------------------------------------------------------------------------------

XML = """<annotation>
  <folder>val</folder>
  <filename>ILSVRC2012_val_00000042</filename>
  <source><database>ILSVRC_2012</database></source>
  <size><width>500</width><height>375</height><depth>3</depth></size>
  <segmented>0</segmented>
  <object>
    <name>{first}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>
    <bndbox><xmin>1</xmin><ymin>11</ymin><xmax>500</xmax><ymax>375</ymax></bndbox>
  </object>
  <object>
    <name>{second}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>
    <bndbox><xmin>0</xmin><ymin>20</ymin><xmax>40</xmax><ymax>60</ymax></bndbox>
  </object>
  <object>
    <name>{first}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>
    <bndbox><xmin>101</xmin><ymin>201</ymin><xmax>150</xmax><ymax>260</ymax></bndbox>
  </object>
</annotation>
"""


def write_xml(folder: Path, image_id: str, first: str = TENCH, second: str = GOLDFISH) -> Path:
    path = folder / f"{image_id}.xml"
    path.write_text(XML.format(first=first, second=second))
    return path


def test_xml_boxes_become_half_open_and_zero_based(tmp_path: Path) -> None:
    annotation = read_ilsvrc_xml(write_xml(tmp_path, "ILSVRC2012_val_00000042"))
    assert annotation.image_id == "ILSVRC2012_val_00000042"
    assert (annotation.width, annotation.height) == (500, 375)
    # 1-based inclusive 1..500 is the whole width: 0..500 half-open. xmin 0 (seen in ILSVRC)
    # would be -1: clipped to 0.
    assert annotation.objects == (
        (TENCH, (0.0, 10.0, 500.0, 375.0)),
        (GOLDFISH, (0.0, 19.0, 40.0, 60.0)),
        (TENCH, (100.0, 200.0, 150.0, 260.0)),
    )
    raw = read_ilsvrc_xml(tmp_path / "ILSVRC2012_val_00000042.xml", one_based=False)
    assert raw.objects[2] == (TENCH, (101.0, 201.0, 150.0, 260.0))


def test_only_the_boxes_of_the_labelled_class_count(tmp_path: Path) -> None:
    annotation = read_ilsvrc_xml(write_xml(tmp_path, "ILSVRC2012_val_00000042"))
    assert class_wnid(0) == TENCH and class_wnid(GOLDFISH) == GOLDFISH
    assert class_boxes(annotation, 0).tolist() == [[0, 10, 500, 375], [100, 200, 150, 260]]
    assert annotation.boxes(TENCH).tolist() == class_boxes(annotation, 0).tolist()
    assert class_boxes(annotation, GOLDFISH).tolist() == [[0, 19, 40, 60]]
    assert class_boxes(annotation, 2).shape == (0, 4)  # great white shark: none
    with pytest.raises(ValueError, match="unknown ImageNet class"):
        class_boxes(annotation, "n99999999")


def test_ground_truth_boxes_go_through_the_preprocessing(tmp_path: Path) -> None:
    annotation = read_ilsvrc_xml(write_xml(tmp_path, "ILSVRC2012_val_00000042"))
    geometry = Preprocessing(resize=256, crop=224)  # 500 x 375 -> 341 x 256, origin (58, 16)
    goldfish = ground_truth_boxes(annotation, 1, (500, 375), geometry)
    # (0, 19, 40, 60) -> x: 40 * 341 / 500 - 58 = -30.7: left of the crop, dropped.
    assert goldfish.shape == (0, 4)
    tench = ground_truth_boxes(annotation, 0, (500, 375), geometry)
    scale_x, scale_y = 341 / 500, 256 / 375
    assert tench.tolist() == [
        [0.0, 0.0, 224.0, 224.0],  # (0, 10, 500, 375) covers the whole crop
        pytest.approx(
            [100 * scale_x - 58, 200 * scale_y - 16, 150 * scale_x - 58, 260 * scale_y - 16],
            abs=1e-12,
        ),
    ]
    with pytest.raises(ValueError, match="500 x 375"):
        ground_truth_boxes(annotation, 0, (375, 500), geometry)


def test_the_xml_folder_is_read_by_image_id(tmp_path: Path) -> None:
    write_xml(tmp_path, "ILSVRC2012_val_00000001")
    write_xml(tmp_path, "ILSVRC2012_val_00000002", first=GOLDFISH, second=GOLDFISH)
    (tmp_path / "notes.txt").write_text("not an annotation")
    annotations = read_ilsvrc_xml_folder(tmp_path)
    assert sorted(annotations) == ["ILSVRC2012_val_00000001", "ILSVRC2012_val_00000002"]
    assert len(annotations["ILSVRC2012_val_00000002"].boxes(GOLDFISH)) == 3
    with pytest.raises(FileNotFoundError):
        read_ilsvrc_xml_folder(tmp_path / "missing")


def test_malformed_xml_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(XML.format(first=TENCH, second=GOLDFISH).replace("<xmax>40</xmax>", ""))
    with pytest.raises(ValueError, match="lacks a coordinate"):
        read_ilsvrc_xml(bad)
    bad.write_text("<annotation><object>")
    with pytest.raises(ValueError, match="not an XML annotation"):
        read_ilsvrc_xml(bad)
    bad.write_text(
        XML.format(first=TENCH, second=GOLDFISH).replace("<xmax>40</xmax>", "<xmax>-4</xmax>")
    )
    with pytest.raises(ValueError, match="bad box"):
        read_ilsvrc_xml(bad)


CSV = f"""ImageId,PredictionString
ILSVRC2012_val_00000001,{TENCH} 1 11 500 375 {GOLDFISH} 5 20 40 60 {TENCH} 101 201 150 260
ILSVRC2012_val_00000002,{GOLDFISH} 1 1 10 10
ILSVRC2012_val_00000003,
"""


def test_the_kaggle_csv_is_read_as_the_xml(tmp_path: Path) -> None:
    path = tmp_path / "LOC_val_solution.csv"
    path.write_text(CSV)
    annotations = read_loc_solution_csv(path)
    first = annotations["ILSVRC2012_val_00000001"]
    assert (first.width, first.height) == (None, None)
    assert first.boxes(0).tolist() == [[0, 10, 500, 375], [100, 200, 150, 260]]
    assert first.boxes(1).tolist() == [[4, 19, 40, 60]]
    assert annotations["ILSVRC2012_val_00000002"].boxes(0).shape == (0, 4)
    assert annotations["ILSVRC2012_val_00000003"].objects == ()


def test_the_kaggle_csv_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "LOC_val_solution.csv"
    path.write_text("ImageId,Boxes\nx,y\n")
    with pytest.raises(ValueError, match="ImageId,PredictionString"):
        read_loc_solution_csv(path)
    path.write_text(f"ImageId,PredictionString\nILSVRC2012_val_00000001,{TENCH} 1 2 3\n")
    with pytest.raises(ValueError, match="groups of"):
        read_loc_solution_csv(path)


def test_boxes_for_samples_leaves_an_image_without_a_box_empty(tmp_path: Path) -> None:
    path = tmp_path / "LOC_val_solution.csv"
    path.write_text(CSV)
    annotations = read_loc_solution_csv(path)
    geometry = Preprocessing(resize=256, crop=224)
    boxes = boxes_for_samples(
        annotations,
        [
            ("ILSVRC2012_val_00000001", 0, (500, 375)),  # two tench boxes, both in the crop
            ("ILSVRC2012_val_00000001", 1, (500, 375)),  # the goldfish box leaves the crop
            ("ILSVRC2012_val_00000002", 0, (500, 375)),  # no tench at all
            ("ILSVRC2012_val_00000009", 0, (500, 375)),  # not annotated
        ],
        geometry,
    )
    assert [len(b) for b in boxes] == [2, 0, 0, 0]
    assert all(b.shape[1] == 4 for b in boxes)


def test_image_boxes_is_plain_data() -> None:
    annotation = ImageBoxes("x", ((TENCH, (0.0, 0.0, 1.0, 1.0)),), 10, 10)
    assert annotation.boxes(TENCH).tolist() == [[0.0, 0.0, 1.0, 1.0]]


SAMPLES = BUNDLED_BOXES.parent


def test_bundled_boxes_cover_every_photo_within_its_pixels_and_classes() -> None:
    """Every bundled photo has a box of its own label; each box lies inside its photo and stands
    only for classes the photo's labels.csv accepts."""
    labels = pd.read_csv(SAMPLES / "labels.csv")
    annotations = read_bundled_boxes()
    assert set(annotations) == {Path(f).stem for f in labels["file"]}
    for row in labels.itertuples():
        image_id = Path(row.file).stem
        width, height = Image.open(SAMPLES / row.file).size
        assert len(annotations[image_id].boxes(int(row.label))) >= 1, image_id
        acceptable = {class_wnid(int(c)) for c in str(row.acceptable).split(";")}
        for wnid, (x0, y0, x1, y1) in annotations[image_id].objects:
            assert wnid in acceptable, (image_id, wnid)
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, image_id


def test_bundled_boxes_reader_lists_a_box_once_per_class(tmp_path: Path) -> None:
    path = tmp_path / "boxes.csv"
    path.write_text(
        "file,object,classes,x_min,y_min,x_max,y_max\n"
        "a.jpg,bike,444;671,1,2,30,40\na.jpg,truck,717,50,60,70,80\n"
    )
    (annotation,) = read_bundled_boxes(path).values()
    assert annotation.boxes(444).tolist() == [[1, 2, 30, 40]]
    assert annotation.boxes(671).tolist() == [[1, 2, 30, 40]]
    assert annotation.boxes(717).tolist() == [[50, 60, 70, 80]]
    assert annotation.boxes(1).shape == (0, 4)
    path.write_text("file,classes,x_min,y_min,x_max,y_max\n")
    with pytest.raises(ValueError, match="expected the columns"):
        read_bundled_boxes(path)
