"""scripts/compare_runs.py on hand-written per-image records: exact medians and maxima."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import compare_runs

from clustercam.bench.columns import COLUMNS
from clustercam.bench.run_folder import PER_IMAGE


def write_run(
    folder: Path, insertion: dict[tuple[str, str], float], skipped=(), targets=None
) -> Path:
    rows = []
    for (image, method), value in insertion.items():
        row = dict.fromkeys(COLUMNS, 0.0)
        row.update(image_id=image, method=method, path="", target_name="", label=1,
                   target=(targets or {}).get(image, 1), insertion_auc=value,
                   skipped="unreadable" if image in skipped else "")
        rows.append(row)
    folder.mkdir()
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(folder / PER_IMAGE, index=False)
    return folder


def test_differences_per_method_and_metric(tmp_path: Path):
    fp32 = write_run(tmp_path / "a", {("x", "cc"): 0.5, ("y", "cc"): 0.25, ("z", "cc"): 0.75,
                                      ("x", "gc"): 0.5, ("w", "gc"): 0.1})
    bf16 = write_run(tmp_path / "b", {("x", "cc"): 0.5, ("y", "cc"): 0.5, ("z", "cc"): 0.625,
                                      ("x", "gc"): 0.75}, skipped=("z",))
    table, changed = compare_runs.metric_differences(fp32, bf16)
    table = table.set_index(["method", "metric"])
    assert changed.empty
    cc = table.loc["cc", "insertion_auc"]  # z is skipped in b; |diffs| 0 and 0.25
    assert (cc["images"], cc["median_abs_diff"], cc["max_abs_diff"]) == (2, 0.125, 0.25)
    gc = table.loc["gc", "insertion_auc"]  # only x is in both
    assert (gc["images"], gc["max_abs_diff"]) == (1, 0.25)
    assert table.loc["cc", "deletion_auc"]["max_abs_diff"] == 0  # all zeros in both


def test_runs_without_common_images_are_an_error(tmp_path: Path):
    a = write_run(tmp_path / "a", {("x", "cc"): 0.5})
    b = write_run(tmp_path / "b", {("y", "cc"): 0.5})
    with pytest.raises(ValueError, match="no image with the same method"):
        compare_runs.metric_differences(a, b)


def test_images_explained_for_another_class_are_left_out_and_listed(tmp_path: Path):
    a = write_run(tmp_path / "a", {("x", "cc"): 0.5, ("y", "cc"): 0.25, ("y", "gc"): 0.25})
    b = write_run(tmp_path / "b", {("x", "cc"): 0.75, ("y", "cc"): 0.9, ("y", "gc"): 0.9},
                  targets={"y": 7})
    table, changed = compare_runs.metric_differences(a, b)
    cc = table.set_index(["method", "metric"]).loc["cc", "insertion_auc"]
    assert (cc["images"], cc["max_abs_diff"]) == (1, 0.25)  # x only
    assert "gc" not in set(table["method"])
    assert changed.to_dict("records") == [{"image_id": "y", "target_a": 1, "target_b": 7}]


def test_paired_change_of_one_method(tmp_path: Path):
    before = write_run(tmp_path / "a", {("x", "cc"): 0.5, ("y", "cc"): 0.25, ("z", "cc"): 0.75,
                                        ("x", "gc"): 0.5})
    after = write_run(tmp_path / "b", {("x", "cc"): 0.5, ("y", "cc"): 0.5, ("z", "cc"): 0.625,
                                       ("x", "gc"): 0.75})
    table, _ = compare_runs.metric_differences(before, after, methods=["cc"], paired=True)
    assert set(table["method"]) == {"cc"}
    cc = table.set_index(["method", "metric"]).loc["cc", "insertion_auc"]
    assert (cc["mean_a"], cc["mean_b"]) == (0.5, pytest.approx(1.625 / 3))
    assert cc["b_minus_a"] == pytest.approx(0.125 / 3)  # differences 0, +0.25, -0.125
    assert cc["b_better_tied_worse"] == "1/1/1"
