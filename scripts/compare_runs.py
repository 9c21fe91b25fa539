"""How far apart two runs of the same images are, metric by metric (e.g. bf16 against fp32).

    python scripts/compare_runs.py RUN_FP32 RUN_BF16 --out results/precision_bf16.md

For every method and faithfulness metric both runs scored: the images compared, and the median and
largest per-image |difference| (AUCs on their 0..1 scale, Average Drop / Increase in Confidence in
percentage points). Only images with a scored row in both runs count.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from clustercam.bench.columns import SUMMARISED
from clustercam.bench.records import read_per_image

METRICS = tuple(f.name for f in SUMMARISED if f.table in ("confidence", "causal"))


def metric_differences(run_a: Path, run_b: Path) -> pd.DataFrame:
    """One row per method and metric: images, median and max |a - b| per image."""
    keys = ["image_id", "method"]
    scored = [read_per_image(run).query("skipped == ''") for run in (run_a, run_b)]
    both = scored[0].merge(scored[1], on=keys, suffixes=("_a", "_b"))
    if both.empty:
        raise ValueError(f"{run_a} and {run_b} scored no image with the same method")
    rows = []
    for method, group in both.groupby("method", sort=False):
        for metric in METRICS:
            difference = (group[f"{metric}_a"] - group[f"{metric}_b"]).abs().dropna()
            if len(difference):
                rows.append({"method": method, "metric": metric, "images": len(difference),
                             "median_abs_diff": difference.median(),
                             "max_abs_diff": difference.max()})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="write the table here (markdown)")
    args = parser.parse_args()
    table = metric_differences(args.run_a, args.run_b)
    text = (f"Per-image |difference| of {args.run_b} against {args.run_a}.\n\n"
            + table.to_markdown(index=False, floatfmt=".4g") + "\n")
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
