"""Localisation in the runner (clustercam/bench/localize.py): the columns of a run on the bundled
photos' boxes are the metrics of its saved maps against the boxes moved through the model's own
preprocessing, an image without ground truth is counted, and a run without localisation metrics
writes the summary it wrote before; `data=gridpg` runs end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from runner_support import TINY, compose_config
from toys import COLOURS, tiny_zoo

from clustercam.bench.boxes import ground_truth_boxes, read_bundled_boxes
from clustercam.bench.experiment import run
from clustercam.bench.report import cli as make_report
from clustercam.bench.run_folder import read_per_image
from metrics import box_masks, energy_pointing_game, pointing_game

LOCALIZE = [
    "method=gradcam",
    "+method@methods.center=center",
    "metrics.confidence.modes=[]",
    "metrics.deletion=null",
    "metrics.insertion=null",
    "metrics.localization.metrics=[energy,pointing,box,rank]",
    "target=label",
]


def bundled_run(tmp_path: Path, *overrides: str) -> pd.DataFrame:
    cfg = compose_config(*TINY, *LOCALIZE, "data.classes=null", "save_maps=true", *overrides)
    run(cfg, tmp_path / "run")
    return read_per_image(tmp_path / "run")


def test_columns_are_the_metrics_of_the_saved_maps_on_the_transformed_boxes(
    tmp_path: Path,
) -> None:
    rows = bundled_run(tmp_path, "data.boxes=bundled", "data.n_images=3")
    annotations, transform = read_bundled_boxes(), tiny_zoo().transform
    checked = 0
    for image_id, group in rows.groupby("image_id"):
        path = group["path"].iloc[0]
        with Image.open(path) as image:
            size = image.size
        label = int(group["label"].iloc[0])
        boxes = ground_truth_boxes(annotations[image_id], label, size, transform)
        assert len(boxes) >= 1
        maps = np.load(tmp_path / "run" / "maps" / f"{image_id}.npz")
        for _, row in group.iterrows():
            saliency = torch.from_numpy(maps[row["method"]].astype(np.float32))[None]
            region = box_masks([boxes], *saliency.shape[-2:])
            assert row["gt_boxes"] == len(boxes)
            # float16 maps on disk against the float32 maps the run scored
            assert row["energy_pg"] == pytest.approx(
                energy_pointing_game(saliency, region).item(), abs=2e-3
            )
            assert row["pointing_game"] == pointing_game(saliency, region).item()
            assert 0 <= row["box_iou"] <= 1 and row["box_correct"] in (0.0, 1.0)
            checked += 1
    assert checked == 6  # 3 images x (gradcam, center)
    # The centre map and Grad-CAM of a random toy do not agree everywhere by accident.
    wide = rows.pivot_table(index="image_id", columns="method", values="energy_pg")
    assert not np.allclose(wide["gradcam"], wide["center"])


def test_an_image_without_ground_truth_is_counted_not_scored(tmp_path: Path) -> None:
    boxes = tmp_path / "boxes.csv"
    boxes.write_text(
        "file,object,classes,x_min,y_min,x_max,y_max\n"
        "chelsea.jpg,cat,281;282;285,15,0,400,300\n"
        "coffee.jpg,not the labelled class,0,0,0,50,50\n"
    )
    rows = bundled_run(tmp_path, f"data.boxes={boxes}")
    by_image = rows[rows["method"] == "gradcam"].set_index("image_id")
    assert len(by_image) == 22
    assert by_image.loc["chelsea", "gt_boxes"] == 1 and by_image.loc["chelsea", "energy_pg"] > 0
    for image_id in set(by_image.index) - {"chelsea"}:  # no box of its class: counted, NaN
        assert by_image.loc[image_id, "gt_boxes"] == 0
        assert math.isnan(by_image.loc[image_id, "energy_pg"])
        assert by_image.loc[image_id, "skipped"] == ""


def test_without_localisation_metrics_the_summary_has_no_localisation_column(
    tmp_path: Path,
) -> None:
    cfg = compose_config(*TINY, "method=gradcam", "data.n_images=2", "metrics.confidence.modes=[]")
    run(cfg, tmp_path / "run")
    rows = read_per_image(tmp_path / "run")
    assert rows[["energy_pg", "pointing_game", "gt_boxes"]].isna().all().all()
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "Deletion AUC" in summary and "Energy PG" not in summary and "Pointing" not in summary


def colour_folder(root: Path) -> Path:
    """Solid photos of the ColourNet toy's four colours, two each, in wnid folders 0..3."""
    for label, wnid in enumerate(["n01440764", "n01443537", "n01484850", "n01491361"]):
        (root / wnid).mkdir(parents=True)
        for copy in range(2):
            pixels = tuple(round(255 * c) for c in COLOURS[label])
            Image.new("RGB", (30 + copy, 30), pixels).save(root / wnid / f"{wnid}_{copy}.png")
    return root


def test_gridpg_runs_end_to_end(tmp_path: Path) -> None:
    images = colour_folder(tmp_path / "images")
    cfg = compose_config(
        "data=gridpg", *LOCALIZE, "model._target_=toys.colour_zoo", "model.name=colour",
        "device=cpu", "data.n_grids=6", "data.threshold=0.9",
        "data.source._target_=clustercam.bench.data.imagefolder", f"+data.source.root={images}",
    )  # fmt: skip
    run(cfg, tmp_path / "run")
    rows = read_per_image(tmp_path / "run")
    assert len(rows) == 12 and set(rows["method"]) == {"gradcam", "center"}
    assert (rows["gt_boxes"] == 1).all() and rows["skipped"].eq("").all()
    assert rows["energy_pg"].between(0, 1).all()
    # the label explained is the explained cell's photo's
    assert (rows["target"] == rows["label"]).all()
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "Energy PG" in summary


def test_the_report_pairs_localisation_with_cluster_cam_and_draws_the_boxes(
    tmp_path: Path,
) -> None:
    cfg = compose_config(
        *TINY, *LOCALIZE, "method=clustercam", "data.boxes=bundled",
        "save_maps=true", "+model.size=32",
    )  # fmt: skip
    run(cfg, tmp_path / "run")
    written = make_report.main([str(tmp_path / "run"), "--out", str(tmp_path / "report")])
    assert tmp_path / "report" / "fig7_localization.png" in written
    table = pd.read_csv(tmp_path / "report" / "table7_localization.csv").set_index("method")
    rows = read_per_image(tmp_path / "run")
    kept = rows[rows["skipped"] == ""]
    wide = kept.pivot_table(index="image_id", columns="method", values="energy_pg")
    both = wide.dropna()
    assert len(both) >= 2  # the tiny model's Cluster-CAM maps are not all constant
    expected = (both["center"] - both["clustercam"]).mean()
    assert table.loc["center", "energy_pg_diff"] == pytest.approx(expected)
    assert table.loc["center", "paired_with"] == "clustercam"
    assert table.loc["clustercam", "energy_pg"] == pytest.approx(wide["clustercam"].mean())
    assert table.loc["center", "tolerance"] == 15
