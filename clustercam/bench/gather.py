"""`python -m clustercam.bench.gather MULTIRUN_DIR`: one view of a sweep's jobs.

Writes in MULTIRUN_DIR: gathered.csv (every summary column, one row per job and method, in
Hydra's job order, the job's overrides first, their values typed as YAML reads them), gathered.md
(the short table it prints: overrides, method, N and the means of summary.md's columns) and, for a
sweep over Cluster-CAM's K, fig3_k_tradeoff.png (the report's K trade-off figure).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from clustercam.bench.report.figures import k_tradeoff_figure
from clustercam.bench.report.runs import discover
from clustercam.bench.report.tables import NotAvailable
from clustercam.bench.run_folder import SUMMARY_CSV
from clustercam.bench.summaries import BRIEF_FIELDS, MARKS, markdown_table
from clustercam.bench.sweeps import job_dirs, overrides

GATHERED_CSV, GATHERED_MD, K_FIGURE = "gathered.csv", "gathered.md", "fig3_k_tradeoff.png"


def gather(multirun_dir: Path) -> pd.DataFrame:
    """The summaries of every job of a sweep, in sweep order, with each job's overrides as columns.

    Jobs without a summary (still running, or interrupted) are left out with a warning on stdout;
    resume them with the same command and hydra.sweep.dir, then gather again.
    """
    multirun_dir = Path(multirun_dir)
    tables, missing = [], []
    for job in job_dirs(multirun_dir):
        name = str(job.relative_to(multirun_dir))
        if not (job / SUMMARY_CSV).exists():
            missing.append(name)
            continue
        summary = pd.read_csv(job / SUMMARY_CSV)
        settings = {key: yaml.safe_load(value) if value else value
                    for key, value in overrides(job).items()}  # fmt: skip
        for position, (key, value) in enumerate(settings.items()):
            summary.insert(position, key, [value] * len(summary))
        summary.insert(len(settings), "job", name)
        tables.append(summary)
    if missing:
        print(f"gather: no summary yet in {len(missing)} job(s): {', '.join(missing)}")
    if not tables:
        raise FileNotFoundError(
            f"no finished job (a folder with .hydra/ and {SUMMARY_CSV}) under {multirun_dir}"
        )
    return pd.concat(tables, ignore_index=True)


def short_table(table: pd.DataFrame) -> pd.DataFrame:
    """The overrides that differ between jobs, method, N (images scored) and the mean of each
    column of summary.md that holds a value (a summary written before a column existed has
    none)."""
    settings = list(table.columns[: table.columns.get_loc("job")])
    varying = [key for key in settings if table[key].astype(str).nunique() > 1] or settings
    short = table[[*varying, "method"]].copy()
    short["N"] = table["n_images"] - table["n_skipped"]
    for field in BRIEF_FIELDS:
        mean = table.get(f"{field.summary_name}_mean")
        if mean is not None and mean.notna().any():
            short[f"{field.label} {MARKS[field.better]}"] = mean.round(field.decimals)
    return short


def k_figure(multirun_dir: Path) -> Path | None:
    """fig3_k_tradeoff.png of a sweep over n_clusters; None for any other sweep."""
    inputs, _ = discover([multirun_dir])
    if not inputs.k_jobs:
        return None
    try:
        return k_tradeoff_figure(inputs.k_jobs, [], multirun_dir / K_FIGURE)
    except NotAvailable:
        return None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m clustercam.bench.gather",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "multirun_dir",
        type=Path,
        help="a sweep's folder (hydra.sweep.dir), e.g. results/multiruns/2026-01-01_12-00-00",
    )
    args = parser.parse_args(argv)
    folder = args.multirun_dir
    table = gather(folder)
    table.to_csv(folder / GATHERED_CSV, index=False)
    short = markdown_table(short_table(table))
    (folder / GATHERED_MD).write_text(short)
    print(short, end="")
    figure = k_figure(folder)
    written = [folder / GATHERED_CSV, folder / GATHERED_MD, *([figure] if figure else [])]
    print(f"wrote {', '.join(map(str, written))}")


if __name__ == "__main__":
    main()
