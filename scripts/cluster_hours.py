"""Expected GPU-hours of the full validation protocol per method, from measured per-image seconds.

    python scripts/cluster_hours.py results/bench_speed_cuda.csv --images 50000 --shards 20
    python scripts/cluster_hours.py RUN_DIR --images 50000 --shards 20

Reads the CSV of scripts/bench_speed.py (one GPU, the `rise` metrics), or the per-image records of
a run on a GPU (every method it ran), and prints, for each method, the seconds per image of the
method and of its metrics (each job of experiment=imagenet_shards, one per shard and method,
computes its own curve endpoints; a run's records count them in every method's row), the GPU-hours
of all images, and the hours of one shard job (which sets hydra.launcher.timeout_min). Data
loading and the records are in neither's seconds: treat these hours as a lower bound. Writes the
table to results/cluster_hours.md with --out.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

from clustercam.bench.run_folder import method_costs

# Method of the imagenet_shards sweep -> its row in bench_speed (library `ours`).
SPEED_ROWS = {
    "clustercam": "clustercam k=8",
    "gradcam": "gradcam",
    "gradcampp": "gradcam++",
    "scorecam": "scorecam",
    "random": "random",
    "center": "center",
}
METRICS = "metrics rise"


def gpu_hours(speed_csv: Path, n_images: int, n_shards: int) -> list[dict[str, float | str]]:
    """One row per method: seconds per image (method, metrics), total and per-shard hours."""
    with open(speed_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    seconds = {
        (row["library"], row["method"]): float(row["seconds/image"])
        for row in rows
        if row["batch"] == "batch" and row["seconds/image"]
    }
    try:
        metrics = seconds[METRICS, "per method"] + seconds[METRICS, "endpoints"]
    except KeyError:
        raise ValueError(f"{speed_csv} has no `{METRICS}` rows; run bench_speed.py") from None
    for speed_row in SPEED_ROWS.values():
        if ("ours", speed_row) not in seconds:
            raise ValueError(f"{speed_csv} has no batch row for `{speed_row}` (library ours)")
    return hours_table(
        [(method, seconds["ours", row], metrics) for method, row in SPEED_ROWS.items()],
        n_images, n_shards,
    )


def run_gpu_hours(run_dir: Path, n_images: int, n_shards: int) -> list[dict[str, float | str]]:
    """As `gpu_hours`, from the mean per-image seconds of every method a run explained."""
    costs = method_costs(run_dir)
    return hours_table(
        list(zip(costs.index, costs["seconds"], costs["metric_seconds"])), n_images, n_shards
    )


def hours_table(
    seconds: Sequence[tuple[str, float, float]], n_images: int, n_shards: int
) -> list[dict[str, float | str]]:
    """(method, method s/image, metrics s/image) triples -> the table's rows."""
    table = []
    for method, method_seconds, metric_seconds in seconds:
        hours = n_images * (method_seconds + metric_seconds) / 3600
        table.append({
            "method": method,
            "method s/image": method_seconds,
            "metrics s/image": metric_seconds,
            "GPU-hours": hours,
            "hours per shard": hours / n_shards,
        })
    return table


def markdown(table: Sequence[dict[str, float | str]], n_images: int, n_shards: int) -> str:
    header = list(table[0])
    lines = [
        f"Expected GPU-hours for {n_images:,} images in {n_shards} shards per method "
        "(scripts/cluster_hours.py; a lower bound: no data loading or records)",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    for row in table:
        cells = [row["method"], *(f"{row[k]:.4f}" for k in header[1:3]),
                 *(f"{row[k]:.2f}" for k in header[3:])]
        lines.append("| " + " | ".join(cells) + " |")
    total = sum(float(row["GPU-hours"]) for row in table)
    lines += ["", f"All methods: {total:.1f} GPU-hours."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("measured", type=Path,
                        help="results/bench_speed_cuda.csv, or a run folder (its per_image.csv)")
    parser.add_argument(
        "--images", type=int, default=50_000,
        help="images of the full protocol (ImageNet validation: 50,000)",
    )
    parser.add_argument(
        "--shards", type=int, default=20, help="shard jobs per method (experiment=imagenet_shards)"
    )
    parser.add_argument("--out", type=Path, help="also write the table to this .md file")
    args = parser.parse_args(argv)
    hours = run_gpu_hours if args.measured.is_dir() else gpu_hours
    text = markdown(hours(args.measured, args.images, args.shards), args.images, args.shards)
    if args.out:
        args.out.write_text(text)
    print(text, end="")
    return text


if __name__ == "__main__":
    main()
