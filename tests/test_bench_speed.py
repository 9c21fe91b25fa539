"""scripts/bench_speed.py end to end on a tiny model: every row measured, tables written."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from toys import tiny_zoo

from clustercam.bench.data import bundled_samples, load_image
from clustercam.bench.zoo import ZooModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import bench_speed


def live_channels(zoo: ZooModel, n_images: int) -> tuple[float, float]:
    """Mean over the first bundled photos of the non-constant channels of the target layer and
    of the distinct maps they hold, computed here, not by the methods."""
    live, distinct = [], []
    for sample in bundled_samples()[:n_images]:
        with torch.no_grad():
            maps = zoo.model.features(zoo.transform(load_image(sample.path))[None])[0].flatten(1)
        varying = maps[maps.amax(1) > maps.amin(1)]
        live.append(len(varying))
        distinct.append(len(torch.unique(varying, dim=0)))
    return sum(live) / n_images, sum(distinct) / n_images


def test_bench_speed_measures_every_row_and_writes_tables(tmp_path: Path):
    rows = bench_speed.run(tiny_zoo(size=32), 2, 4, 1, "fp32", tmp_path, "test", (8,))
    table = list(csv.DictReader((tmp_path / "bench_speed_cpu.csv").read_text().splitlines()))
    assert len(table) == len(rows)
    ours = {(r.name, r.batch): r for r in rows if r.library == "ours"}
    # Exact forward passes per image (mean over the 2 photos): 1 + the non-constant channels of
    # TinyNet's target layer (Score-CAM), 1 + their distinct maps (Cluster-CAM, K=8 = C).
    live, distinct = live_channels(tiny_zoo(size=32), 2)
    assert ours["gradcam", "batch"].forward == 1 and ours["gradcam", "batch"].backward == 1
    assert ours["clustercam k=8", "1"].forward == 1 + distinct
    assert ours["scorecam", "batch"].forward == ours["scorecam", "1"].forward == 1 + live
    assert all(r.seconds > 0 and r.warmup > 0 for r in rows)
    installed = importlib.util.find_spec("pytorch_grad_cam") is not None
    theirs = [r for r in rows if r.library == "pytorch-grad-cam"]
    assert bool(theirs) == installed
    for row in theirs:  # same method, same maps up to interpolation details
        assert row.pearson > 0.95, row
    markdown = (tmp_path / "bench_speed_cpu.md").read_text()
    assert "compare_all" in markdown and "Cluster-CAM K=8" in markdown
    assert "cut short" not in markdown


def test_bench_speed_in_bf16_times_our_rows_and_leaves_the_fp32_only_libraries_out(
    tmp_path: Path,
):
    rows = bench_speed.run(tiny_zoo(size=32), 1, 4, 1, "bf16", tmp_path, "test", (8,))
    assert {row.library for row in rows} == {"ours", "metrics rise"}
    assert any(row.name == "clustercam k=8" for row in rows)
    markdown = (tmp_path / "bench_speed_cpu.md").read_text()
    assert "precision bf16" in markdown and "fp32 only" in markdown


def test_bench_speed_cut_short_keeps_the_rows_measured(tmp_path: Path, monkeypatch):
    """A time limit that stops the script mid-way (here: the 6th row) leaves the rows before it."""
    measure, calls = bench_speed.measure, []

    def limited(row, *args) -> None:
        calls.append(row.name)
        if len(calls) == 6:
            raise KeyboardInterrupt
        measure(row, *args)

    monkeypatch.setattr(bench_speed, "measure", limited)
    with pytest.raises(KeyboardInterrupt):
        bench_speed.run(tiny_zoo(size=32), 2, 4, 1, "fp32", tmp_path, "test", (8,))
    table = list(csv.DictReader((tmp_path / "bench_speed_cpu.csv").read_text().splitlines()))
    assert [row["method"] for row in table] == calls[:5]
    assert all(row["batch"] == "batch" for row in table)  # one-image rows come last
    assert "cut short: 5 of" in (tmp_path / "bench_speed_cpu.md").read_text()


def test_the_runners_own_seconds_against_the_floor_by_hand(tmp_path: Path):
    columns = "image_id,method,forward,seconds,metric_forward,metric_seconds,tail,skipped"
    (tmp_path / "per_image.csv").write_text("\n".join([
        columns,
        "x,a,40,0.4,60,0.5,0,",  # a: 1.0 s and 100 forwards per image on average
        "y,a,40,0.6,60,0.5,0,",
        "x,b,1,0.1,59,1.3,2,",  # b: 1.4 s and 60 forwards per image
        "y,b,1,0.1,59,1.3,2,invalid map (constant or not finite)",  # its time was still spent
        "z,a,,,,,,unreadable image",  # costs nothing
        "z,b,,,,,,unreadable image",
    ]) + "\n")
    lines = bench_speed.runner_lines(tmp_path, floor=0.01)
    assert "| a | 2 | 1.0000 | 100 | 0 | 1.00 |" in lines
    assert "| b | 2 | 1.4000 | 60 | 2 | 2.33 |" in lines
    assert "| all methods | 2 | 2.4000 | 160 | 2 | 1.50 |" in lines
    assert lines[-1].startswith("Projected 50,000 images from the runner's measured per-image "
                                "seconds: 33.33 h (22.22 h of forward floor)")


def test_bench_speed_writes_the_runner_beside_its_rows(tmp_path: Path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "per_image.csv").write_text(
        "image_id,method,forward,seconds,metric_forward,metric_seconds,tail,skipped\n"
        "x,a,40,0.4,60,0.5,0,\n"
    )
    bench_speed.run(tiny_zoo(size=32), 1, 4, 1, "fp32", tmp_path, "test", (8,), runner=run_dir)
    markdown = (tmp_path / "bench_speed_cpu.md").read_text()
    assert f"## The runner: `{run_dir}`" in markdown and "| all methods | 1 |" in markdown


def test_other_libraries_hold_no_hooks_between_their_calls():
    """pytorch-grad-cam's hooks copy the layer's output to the host on every forward: left on
    while our rows run, they slowed ours 3x on an H200. Built per call, released after."""
    pytest.importorskip("pytorch_grad_cam")
    zoo = tiny_zoo(size=32)
    counter = bench_speed.counted(zoo.model)
    layer = bench_speed.resolve_layer(zoo.model, zoo.target_layer)
    rows = [r for r in bench_speed.their_rows(counter, layer, 4) if r.library != "note"]
    images = torch.rand(2, 3, 32, 32)
    assert rows and not (layer._forward_hooks or layer._backward_hooks)
    for row in rows:
        assert row.explain(images, torch.tensor([0, 1])).shape == (2, 32, 32)
        assert not (layer._forward_hooks or layer._forward_pre_hooks or layer._backward_hooks)
