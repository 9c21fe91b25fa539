"""`python -m clustercam.bench.gather MULTIRUN_DIR`: one table of the summaries of a sweep's jobs.

Writes gathered.csv and gathered.md in MULTIRUN_DIR, one row per job and method, in Hydra's job
order, with the job's overrides as the first columns (values typed as YAML reads them).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from clustercam.bench.run_folder import SUMMARY_CSV
from clustercam.bench.summaries import markdown_table
from clustercam.bench.sweeps import job_dirs, overrides


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
    table = gather(args.multirun_dir)
    table.to_csv(args.multirun_dir / "gathered.csv", index=False)
    (args.multirun_dir / "gathered.md").write_text(markdown_table(table))
    print(markdown_table(table), end="")
    print(f"wrote {args.multirun_dir / 'gathered.csv'} and gathered.md")


if __name__ == "__main__":
    main()
