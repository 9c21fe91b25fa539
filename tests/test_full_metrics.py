"""metrics=full in the runner: the default run's columns stay as they were, a full run adds every
metric's column and each metric's own passes, and the metrics both presets compute agree."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from runner_support import TINY, compose_config, make_image_folder

from clustercam.bench.columns import COLUMNS, GROUPS, TIMING_COLUMNS, run_columns
from clustercam.bench.experiment import run
from clustercam.bench.report.agreement import kendall_matrix, ranks
from clustercam.bench.report.cli import main as report_main
from clustercam.bench.run_folder import read_per_image

# The default run's per_image.csv and summary.csv columns before metrics=full existed (main with
# localisation): a default run must keep writing exactly these.
DEFAULT_COLUMNS = [
    "image_id", "path", "label", "target", "target_name", "probability", "method",
    "drop_continuous", "increase_continuous", "explained_continuous", "drop_top50",
    "increase_top50", "explained_top50", "deletion_auc", "insertion_auc", "forward", "backward",
    "tail", "seconds", "metric_forward", "metric_seconds", "energy_pg", "pointing_game",
    "box_iou", "box_correct", "relevance_rank", "gt_boxes", "skipped",
]  # fmt: skip
DEFAULT_SUMMARY = [
    "method", "n_images", "n_skipped",
    *(f"{name}_{statistic}" for name in (
        "average_drop_continuous", "increase_in_confidence_continuous", "explained_continuous",
        "average_drop_top50", "increase_in_confidence_top50", "explained_top50", "deletion_auc",
        "insertion_auc", "forward", "backward", "tail", "seconds", "metric_forward",
        "metric_seconds", "energy_pg", "pointing_game", "box_iou", "box_correct",
        "relevance_rank") for statistic in ("mean", "ci95")),
    "setup_forward",
]  # fmt: skip
ROAD_POINTS = 9  # percentiles 10..90 in configs/metrics/full.yaml
SAMPLES = 3  # its sensitivity.n_samples


def tiny_run(tmp_path: Path, name: str, *overrides: str) -> Path:
    images = make_image_folder(tmp_path / "images")
    cfg = compose_config(*TINY, "data=imagefolder", f"data.root={images}", "method=gradcam",
                         "+method@methods.fake=fake", "+method@methods.center=center",
                         *overrides)  # fmt: skip
    run(cfg, tmp_path / name)
    return tmp_path / name


@pytest.fixture(scope="module")
def fast_and_full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp_path = tmp_path_factory.mktemp("full")
    return tiny_run(tmp_path, "fast"), tiny_run(tmp_path, "full", "metrics=full")


def test_default_columns_are_unchanged(fast_and_full: tuple[Path, Path]) -> None:
    fast, _ = fast_and_full
    assert list(COLUMNS) == DEFAULT_COLUMNS == list(run_columns())
    assert (fast / "per_image.csv").read_text().split("\n")[0] == ",".join(DEFAULT_COLUMNS)
    assert list(pd.read_csv(fast / "summary.csv").columns) == DEFAULT_SUMMARY


def test_full_run_writes_every_metric(fast_and_full: tuple[Path, Path]) -> None:
    _, full = fast_and_full
    header = (full / "per_image.csv").read_text().split("\n")[0].split(",")
    assert header == list(run_columns(GROUPS))
    added = [c for c in header if c not in DEFAULT_COLUMNS]
    assert {"sparseness", "complexity", "gain", "adcc", "coherency", "max_sensitivity",
            "road_morf", "road_lerf", "road_combined", "road_seconds"} <= set(added)  # fmt: skip
    rows = read_per_image(full)
    scored = rows[rows["skipped"] == ""]
    assert len(scored) == 15  # 5 readable images x 3 methods
    assert scored[added].notna().all().all()
    summary = pd.read_csv(full / "summary.csv")
    assert {"road_combined_mean", "adcc_mean", "road_seconds_mean"} <= set(summary.columns)


def test_each_metric_counts_its_own_passes(fast_and_full: tuple[Path, Path]) -> None:
    # Grad-CAM is 1 forward (+1 backward) per call; AD/IC is 1 forward per mode; ADCC calls the
    # method once more and reuses AD's passes; Max-Sensitivity calls it N times; ROAD scores
    # 2 images per percentile; sparseness and complexity cost nothing.
    _, full = fast_and_full
    rows = read_per_image(full)
    rows = rows[rows["skipped"] == ""]
    gradcam = rows[rows["method"] == "gradcam"]
    assert (gradcam["confidence_forward"] == 2).all()
    assert (gradcam["adcc_forward"] == 1).all()
    assert (gradcam["sensitivity_forward"] == SAMPLES).all()
    assert (rows["road_forward"] == 2 * ROAD_POINTS).all()
    assert (rows["complexity_forward"] == 0).all()
    assert (rows["road_imputation_seconds"] <= rows["road_seconds"]).all()
    # The total is the metrics' own passes plus what every method of an image shares (p_c(x),
    # the curves' endpoints).
    own = sum(rows[f"{m}_forward"] for m in
              ("confidence", "deletion", "insertion", "complexity", "adcc", "sensitivity", "road"))
    shared = (rows["metric_forward"] - own).groupby(rows["image_id"]).nunique()
    assert (shared == 1).all()  # fmt: skip


def test_metrics_both_presets_compute_agree(fast_and_full: tuple[Path, Path]) -> None:
    fast, full = (read_per_image(path) for path in fast_and_full)
    common = [c for c in DEFAULT_COLUMNS if c not in TIMING_COLUMNS and c != "metric_forward"]
    pd.testing.assert_frame_equal(fast[common], full[common])


def test_fake_map_keeps_average_drop_low(fast_and_full: tuple[Path, Path]) -> None:
    # All ones but one pixel: x * L is x but for one pixel, so AD is about 0 (Poppi et al.).
    _, full = fast_and_full
    rows = read_per_image(full)
    fake = rows[(rows["method"] == "fake") & (rows["skipped"] == "")]
    assert len(fake) == 5 and (fake["drop_continuous"] < 1.0).all()


def test_rankings_and_kendall_tau_by_hand() -> None:
    # Insertion (higher is better) and deletion (lower) both order A > B > C: tau +1; AD (lower)
    # on the same numbers as insertion orders C > B > A: tau -1; sparseness ties A and B.
    means = pd.DataFrame(
        {
            "insertion_auc": [0.9, 0.5, 0.1],
            "deletion_auc": [0.1, 0.5, 0.9],
            "drop_continuous": [0.9, 0.5, 0.1],
            "sparseness": [0.5, 0.5, 0.1],
        },
        index=["A", "B", "C"],
    )
    ranked = ranks(means)
    assert ranked["insertion_auc"].tolist() == [1.0, 2.0, 3.0]
    assert ranked["drop_continuous"].tolist() == [3.0, 2.0, 1.0]
    assert ranked["sparseness"].tolist() == [1.5, 1.5, 3.0]
    tau = kendall_matrix(means)
    assert tau.loc["insertion_auc", "deletion_auc"] == pytest.approx(1.0)
    assert tau.loc["insertion_auc", "drop_continuous"] == pytest.approx(-1.0)
    # tau-b with one tie among 3 pairs: (2 concordant - 0) / sqrt(3 * 2)
    assert tau.loc["insertion_auc", "sparseness"] == pytest.approx(2 / 6**0.5)


def test_report_writes_agreement_and_median_rank(
    fast_and_full: tuple[Path, Path], tmp_path: Path
) -> None:
    fast, full = fast_and_full
    written = {path.name for path in report_main([str(full), "--out", str(tmp_path)])}
    assert {"table9_metric_agreement.csv", "table10_median_rank.csv", "table11_full_metrics.csv",
            "table12_metric_cost.csv",
            "fig9_metric_agreement.png"} <= written  # fmt: skip
    agreement = pd.read_csv(tmp_path / "table9_metric_agreement.csv")
    diagonal = [agreement.loc[i, name] for i, name in enumerate(agreement["metric"])]
    assert diagonal == pytest.approx([1.0] * len(diagonal))
    median = pd.read_csv(tmp_path / "table10_median_rank.csv")
    assert sorted(median["label"]) == ["Center", "Fake", "Grad-CAM"]
    assert median["median_rank"].is_monotonic_increasing
    # A default run has no metrics=full columns: no Tables 7 and 8.
    plain = {path.name for path in report_main([str(fast), "--out", str(tmp_path / "fast")])}
    assert not any(name.startswith(("table9", "table10", "fig9")) for name in plain)
