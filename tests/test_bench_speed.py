"""scripts/bench_speed.py end to end on a tiny model: every row measured, tables written."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

from toys import tiny_zoo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import bench_speed


def test_bench_speed_measures_every_row_and_writes_tables(tmp_path: Path):
    rows = bench_speed.run(tiny_zoo(size=32), 2, 4, 1, "fp32", tmp_path, "test", (8,))
    table = list(csv.DictReader((tmp_path / "bench_speed_cpu.csv").read_text().splitlines()))
    assert len(table) == len(rows)
    ours = {(r.name, r.batch): r for r in rows if r.library == "ours"}
    # Exact forward passes per image: 8 live channels in TinyNet's target layer at most.
    assert ours["gradcam", "batch"].forward == 1 and ours["gradcam", "batch"].backward == 1
    assert ours["clustercam k=8", "1"].forward <= 1 + 8
    assert ours["scorecam", "batch"].forward == ours["scorecam", "1"].forward <= 1 + 8
    assert all(r.seconds > 0 and r.warmup > 0 for r in rows)
    installed = importlib.util.find_spec("pytorch_grad_cam") is not None
    theirs = [r for r in rows if r.library == "pytorch-grad-cam"]
    assert bool(theirs) == installed
    for row in theirs:  # same method, same maps up to interpolation details
        assert row.pearson > 0.95, row
    markdown = (tmp_path / "bench_speed_cpu.md").read_text()
    assert "compare_all" in markdown and "Cluster-CAM K=8" in markdown
