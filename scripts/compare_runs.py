"""How far apart two runs of the same images are, metric by metric (e.g. bf16 against fp32).

    python scripts/compare_runs.py RUN_FP32 RUN_BF16 --out results/precision_bf16.md

For every method and faithfulness metric both runs scored: the images compared, and the median and
largest per-image |difference| (AUCs on their 0..1 scale, Average Drop / Increase in Confidence in
percentage points). Only images with a scored row in both runs count, and only where both runs
explained the same class: an image whose top-1 class changed (a near tie that bf16 can flip) is
listed apart, since its metrics measure another class.

    python scripts/compare_runs.py RUN_BEFORE RUN_AFTER --method clustercam --paired

`--paired` adds, per method and metric, both runs' means and the paired difference after -
before (mean ± 95% interval, Wilcoxon p, images better / tied / worse), in the metric's unit:
what a change to a method did to its results on the same images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from clustercam.bench import stats
from clustercam.bench.columns import BY_NAME, SUMMARISED
from clustercam.bench.run_folder import read_per_image

METRICS = tuple(f.name for f in SUMMARISED if f.table in ("confidence", "causal"))


def metric_differences(
    run_a: Path, run_b: Path, methods: list[str] | None = None, paired: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per method and metric: images, median and max |a - b| per image (and with
    `paired`, the means and the paired statistics of b - a); and the images whose explained class
    differs between the runs (image_id, target_a, target_b), left out."""
    keys = ["image_id", "method"]
    scored = [read_per_image(run).query("skipped == ''") for run in (run_a, run_b)]
    if methods:
        scored = [rows[rows["method"].isin(methods)] for rows in scored]
    both = scored[0].merge(scored[1], on=keys, suffixes=("_a", "_b"))
    if both.empty:
        raise ValueError(f"{run_a} and {run_b} scored no image with the same method")
    same_class = both["target_a"] == both["target_b"]
    changed = both.loc[~same_class, ["image_id", "target_a", "target_b"]].drop_duplicates()
    both = both[same_class]
    rows = []
    for method, group in both.groupby("method", sort=False):
        for metric in METRICS:
            difference = (group[f"{metric}_a"] - group[f"{metric}_b"]).abs().dropna()
            if not len(difference):
                continue
            row = {"method": method, "metric": metric, "images": len(difference),
                   "median_abs_diff": difference.median(), "max_abs_diff": difference.max()}
            if paired:
                field = BY_NAME[metric]
                change = stats.paired(group[f"{metric}_b"], group[f"{metric}_a"], field)
                row |= {
                    "mean_a": group[f"{metric}_a"].mean() * field.scale,
                    "mean_b": group[f"{metric}_b"].mean() * field.scale,
                    "b_minus_a": change.mean, "ci95": change.ci95, "wilcoxon_p": change.p_value,
                    "b_better_tied_worse": change.record,
                }
            rows.append(row)
    return pd.DataFrame(rows), changed.reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path, help="run folder a (the reference: before)")
    parser.add_argument("run_b", type=Path, help="run folder b (the comparison: after)")
    parser.add_argument("--out", type=Path, default=None, help="write the table here (markdown)")
    parser.add_argument("--method", nargs="+", default=None, help="only these methods")
    parser.add_argument(
        "--paired", action="store_true", help="also the means and paired statistics of b - a"
    )
    args = parser.parse_args()
    table, changed = metric_differences(args.run_a, args.run_b, args.method, args.paired)
    text = f"Per-image |difference| of {args.run_b} against {args.run_a}.\n\n"
    if len(changed):
        text += (f"Left out, since the two runs explained another class there ({len(changed)}): "
                 + ", ".join(f"{row.image_id} (class {row.target_a} -> {row.target_b})"
                             for row in changed.itertuples()) + ".\n\n")
    text += table.to_markdown(index=False, floatfmt=".4g") + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
