"""The cost-quality frontier (Table 8, fig8_*): the Pareto front by hand, the rows and passes of
the report's synthetic runs against the values written, and the common images of a model's runs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_report import FORWARD, IMAGES, SKIPPED, Report, expected, make_run, report  # noqa: F401

from clustercam.bench.report.frontier import frontier_table, pareto
from clustercam.bench.report.runs import discover


def test_pareto_front_by_hand() -> None:
    costs = np.array([1, 2, 2, 10, 5, math.nan, 10])
    values = np.array([0.3, 0.5, 0.4, 0.9, 0.5, 1.0, 0.9])
    # 2 is beaten by 1 (same cost, lower), 4 by 1 (dearer, same value); 5 has no cost; 3 and 6
    # are the same point, neither beats the other.
    assert pareto(costs, values, "higher").tolist() == [1, 1, 0, 1, 0, 0, 1]
    # Lower is better: the cheapest point has the lowest value and beats every other.
    assert pareto(costs, values, "lower").tolist() == [1, 0, 0, 0, 0, 0, 0]


def kept_mean(method: str, column: str, images: list[str] = IMAGES) -> float:
    values = pd.Series(expected(method, column), index=IMAGES)[images]
    return float(values.dropna().mean())


def test_frontier_rows_passes_and_fronts(report: Report) -> None:  # noqa: F811
    out, _, _ = report
    table = pd.read_csv(out / "table8_frontier.csv", keep_default_na=False, na_values=[""])
    lite0 = table[table["model"] == "efficientnet_lite0"].set_index("label")
    assert lite0.index.tolist() == [
        "Cluster-CAM", "Grad-CAM", "Score-CAM",
        "Cluster-CAM K=2", "Cluster-CAM K=4", "Cluster-CAM K=16",
    ]  # fmt: skip
    resnet = table[table["model"] == "resnet18"]
    assert resnet["method"].tolist() == ["gradcam", "clustercam"]  # cc_baseline is a variant
    # passes = forward + backward (0); forward = base + image index, Cluster-CAM skips img4.
    kept = np.arange(len(IMAGES) - 1).mean()
    passes = {
        "Cluster-CAM": FORWARD["clustercam"] + kept,
        "Grad-CAM": FORWARD["gradcam"] + np.arange(len(IMAGES)).mean(),
        "Score-CAM": FORWARD["scorecam"] + np.arange(len(IMAGES)).mean(),
        **{f"Cluster-CAM K={k}": 9 * k + kept for k in (2, 4, 16)},
    }
    assert lite0["passes"].to_dict() == pytest.approx(passes)
    insertion = {label: kept_mean(m, "insertion_auc") for label, m in lite0["method"].items()}
    assert lite0["insertion"].to_dict() == pytest.approx(insertion)
    # By hand: Grad-CAM is the cheapest; a dearer row is on the front when it beats every cheaper
    # one; the K rows repeat Cluster-CAM's values at a higher cost, so they never are.
    order = sorted(passes, key=passes.__getitem__)
    fronts, best = {}, -math.inf
    for label in order:
        fronts[label] = "yes" if insertion[label] > best else ""
        best = max(best, insertion[label])
    assert lite0["front_insertion"].fillna("").to_dict() == fronts
    assert lite0.loc["Grad-CAM", "insertion_wtl"]  # paired with the run's Cluster-CAM
    assert pd.isna(lite0.loc["Cluster-CAM K=2", "insertion_diff"])  # sweep rows are not


def test_a_models_rows_are_over_the_images_all_its_runs_hold(tmp_path: Path) -> None:
    main = make_run(tmp_path / "main", extras=False)
    rivals = make_run(tmp_path / "rivals", methods=["clustercam", "cfcam"], extras=False)
    config = yaml.safe_load((rivals / "config.yaml").read_text())
    config["methods"]["cfcam"]["_target_"] = "baselines.CFCAM"  # not a Cluster-CAM variant
    (rivals / "config.yaml").write_text(yaml.safe_dump(config))
    rows = pd.read_csv(rivals / "per_image.csv")
    rows[rows["image_id"].isin(IMAGES[:3])].to_csv(rivals / "per_image.csv", index=False)
    inputs, _ = discover([main, rivals])
    table = frontier_table(inputs.runs, inputs.k_jobs).data.set_index("method")
    assert table.index.tolist() == ["clustercam", "gradcam", "scorecam", "cfcam"]
    assert table["n"].tolist() == [3, 3, 3, 3]
    for method in table.index:
        assert table.loc[method, "deletion"] == pytest.approx(
            kept_mean(method, "deletion_auc", IMAGES[:3])
        )
    assert table.loc["cfcam", "run"] == "rivals" and table.loc["clustercam", "run"] == "main"
    assert SKIPPED[1] not in IMAGES[:3]  # so Cluster-CAM kept all three
