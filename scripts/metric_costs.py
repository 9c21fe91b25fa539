"""Each metric's passes and seconds per image, over all methods of a metrics=full run, and its
seconds against the forward floor measured in the same run.

    python scripts/metric_costs.py results/full_metrics/lite0 \
        --out results/full_metrics/metric_costs.md

The forward floor is what one forward pass costs inside deletion (its seconds over its passes, in
chunks of perturbed images): a metric at 1x spends its time in forward passes alone; more means
single-image passes, method calls with backward passes, or work off the model (ROAD's sparse
solves). Both come from the same run, so their ratio holds on a shared machine where absolute
seconds do not.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from clustercam.bench.columns import COSTED_METRICS
from clustercam.bench.run_folder import read_per_image


def cost_table(run_dir: Path) -> str:
    """The Markdown table: per metric, passes and seconds per image and seconds over the floor."""
    rows = read_per_image(run_dir)
    rows = rows[rows["skipped"] == ""]
    floor = float((rows["deletion_seconds"] / rows["deletion_forward"]).mean())
    lines = [
        f"{len(rows)} method-image rows ({rows['image_id'].nunique()} images, "
        f"{rows['method'].nunique()} methods) of `{run_dir}`; forward floor: "
        f"{floor:.4f} s per pass (deletion's seconds per pass).",
        "",
        "| metric | forward passes per image | seconds per image | seconds / (passes x floor) |",
        "| --- | --- | --- | --- |",
    ]
    for metric in COSTED_METRICS:
        passes = float(rows[f"{metric}_forward"].mean())
        seconds = float(rows[f"{metric}_seconds"].mean())
        ratio = f"{seconds / (passes * floor):.2f}" if passes else "-"
        lines.append(f"| {metric} | {passes:.1f} | {seconds:.3f} | {ratio} |")
    imputation = float(rows["road_imputation_seconds"].mean())
    lines.append(f"| road: imputation alone | - | {imputation:.3f} | - |")
    total, passes = float(rows["metric_seconds"].mean()), float(rows["metric_forward"].mean())
    overall = total / (passes * floor) if passes else math.nan
    lines.append(
        f"| all metrics, shared passes included | {passes:.1f} | {total:.3f} | {overall:.2f} |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder of metrics=full")
    parser.add_argument("--out", type=Path, help="Markdown file (default: print)")
    args = parser.parse_args()
    table = cost_table(args.run)
    if args.out:
        args.out.write_text(table)
    print(table, end="")


if __name__ == "__main__":
    main()
