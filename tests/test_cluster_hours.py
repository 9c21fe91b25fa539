"""GPU-hours per method from a bench_speed CSV or a run's records, against hand arithmetic."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import cluster_hours

from clustercam.bench.columns import COLUMNS
from clustercam.bench.run_folder import PER_IMAGE


def speed_csv(path: Path, seconds: dict[tuple[str, str], float]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["library", "method", "batch", "seconds/image", "forwards/image"])
        for (library, method), value in seconds.items():
            writer.writerow([library, method, "batch", value, 1])
            writer.writerow([library, method, "1", 100 * value, 1])  # per-image rows: ignored
    return path


def test_hours_are_images_times_method_plus_metric_seconds(tmp_path: Path) -> None:
    rows = cluster_hours.SPEED_ROWS.values()
    seconds = {("ours", row): 0.01 * (i + 1) for i, row in enumerate(rows)}
    seconds |= {("metrics rise", "per method"): 0.5, ("metrics rise", "endpoints"): 0.02}
    table = cluster_hours.gpu_hours(speed_csv(tmp_path / "s.csv", seconds), 36_000, 4)
    clustercam = table[0]
    assert clustercam["method"] == "clustercam"
    assert clustercam["GPU-hours"] == pytest.approx(36_000 * (0.01 + 0.52) / 3600)  # 5.3 h
    assert clustercam["hours per shard"] == pytest.approx(5.3 / 4)
    assert [row["method"] for row in table] == list(cluster_hours.SPEED_ROWS)
    text = cluster_hours.main([str(tmp_path / "s.csv"), "--images", "36000", "--shards", "4"])
    assert "| clustercam | 0.0100 | 0.5200 | 5.30 | 1.32 |" in text


def test_a_csv_without_metric_rows_says_so(tmp_path: Path) -> None:
    path = speed_csv(tmp_path / "s.csv", {("ours", "gradcam"): 0.1})
    with pytest.raises(ValueError, match=r"no `metrics rise` rows; run bench_speed\.py"):
        cluster_hours.gpu_hours(path, 10, 1)


def test_hours_from_a_runs_records_are_the_mean_seconds_of_each_method(tmp_path: Path) -> None:
    rows = []
    for image, (cc, sc) in {"a": (0.01, 0.3), "b": (0.03, 0.5)}.items():
        for method, seconds in (("clustercam", cc), ("scorecam", sc)):
            row = dict.fromkeys(COLUMNS, 0.0)
            row.update(image_id=image, method=method, path="", target_name="", skipped="",
                       label=1, target=1, seconds=seconds, metric_seconds=0.1)
            rows.append(row)
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(tmp_path / PER_IMAGE, index=False)
    table = cluster_hours.run_gpu_hours(tmp_path, 36_000, 4)
    assert [row["method"] for row in table] == ["clustercam", "scorecam"]
    assert table[1]["GPU-hours"] == pytest.approx(36_000 * (0.4 + 0.1) / 3600)  # 5 h
    text = cluster_hours.main([str(tmp_path), "--images", "36000", "--shards", "4"])
    assert "| clustercam | 0.0200 | 0.1000 | 1.20 | 0.30 |" in text
