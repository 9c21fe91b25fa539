"""How far apart two runs of the same images are, metric by metric (e.g. bf16 against fp32).

    python scripts/compare_runs.py RUN_FP32 RUN_BF16 --out results/precision_bf16.md

For every method and faithfulness metric both runs scored: the images compared, and the median and
largest per-image |difference| (AUCs on their 0..1 scale, Average Drop / Increase in Confidence in
percentage points). Only images with a scored row in both runs count, and only where both runs
explained the same class: an image whose top-1 class changed (a near tie that bf16 can flip) is
listed apart, since its metrics measure another class.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from clustercam.bench.columns import SUMMARISED
from clustercam.bench.records import read_per_image

METRICS = tuple(f.name for f in SUMMARISED if f.table in ("confidence", "causal"))


def metric_differences(run_a: Path, run_b: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per method and metric: images, median and max |a - b| per image; and the images
    whose explained class differs between the runs (image_id, target_a, target_b), left out."""
    keys = ["image_id", "method"]
    scored = [read_per_image(run).query("skipped == ''") for run in (run_a, run_b)]
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
            if len(difference):
                rows.append({"method": method, "metric": metric, "images": len(difference),
                             "median_abs_diff": difference.median(),
                             "max_abs_diff": difference.max()})
    return pd.DataFrame(rows), changed.reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="write the table here (markdown)")
    args = parser.parse_args()
    table, changed = metric_differences(args.run_a, args.run_b)
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
