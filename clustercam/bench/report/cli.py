"""`python scripts/make_report.py RUN_OR_SWEEP [...] --out results/`: every table and figure.

Writes what the inputs support and prints a note for each output it has to leave out; also
writes `report.md`, all tables and figures on one page, for the README to link or embed.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from clustercam.bench.report.agreement import agreement_figure, agreement_tables, is_full
from clustercam.bench.report.figures import (
    curves_figure,
    k_tradeoff_figure,
    localization_figure,
    saliency_grid,
)
from clustercam.bench.report.frontier import frontier_figure, frontier_table
from clustercam.bench.report.render import to_markdown, write_table
from clustercam.bench.report.runs import Inputs, Job, Run, discover, lookup
from clustercam.bench.report.tables import NotAvailable, Table, build_tables


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def run_tags(runs: Sequence[Run]) -> list[str]:
    """File-name suffix per run: none for a single run, else model-data-preset, plus the run
    directory's name where two runs share those."""
    if len(runs) == 1:
        return [""]
    tags = [f"_{slug(f'{run.model}-{run.data}-{run.preset}')}" for run in runs]
    counts = Counter(tags)
    return [f"{tag}-{slug(run.name)}" if counts[tag] > 1 else tag for tag, run in zip(tags, runs)]


def attempt(notes: list[str], what: str, make: Callable[[], Path]) -> Path | None:
    """Runs one figure maker; a missing input becomes a note instead of an error."""
    try:
        return make()
    except NotAvailable as reason:
        notes.append(f"{what} skipped: {reason}")
        return None


def make_figures(inputs: Inputs, out: Path, grid_images: int) -> tuple[list[Path], list[str]]:
    """Saliency grid and mean curves per plain run, its maps with their boxes where it has
    ground-truth boxes; a K trade-off per K sweep."""
    figures: list[Path | None] = []
    notes: list[str] = []
    for run, tag in zip(inputs.runs, run_tags(inputs.runs)):
        figures.append(
            attempt(
                notes,
                f"saliency grid ({run.name})",
                lambda r=run, t=tag: saliency_grid(
                    r, out / f"fig1_saliency_grid{t}.png", grid_images
                ),
            )
        )
        figures.append(
            attempt(
                notes,
                f"curves ({run.name})",
                lambda r=run, t=tag: curves_figure(
                    r, out / f"fig2_deletion_insertion_curves{t}.png"
                ),
            )
        )
        if lookup(run.config, "data.boxes") is not None:
            figures.append(
                attempt(
                    notes,
                    f"boxes ({run.name})",
                    lambda r=run, t=tag: localization_figure(
                        r, out / f"fig7_localization{t}.png", grid_images
                    ),
                )
            )
    for run, tag in zip(inputs.runs, run_tags(inputs.runs)):
        if not is_full(run):
            continue
        figures.append(
            attempt(notes, f"metric agreement ({run.name})",
                    lambda r=run, t=tag: agreement_figure(r, out / f"fig9_metric_agreement{t}.png"))
        )  # fmt: skip
    sweeps: dict[str, list[Job]] = defaultdict(list)
    for job in inputs.k_jobs:
        sweeps[job.sweep].append(job)
    if not sweeps:
        notes.append("K trade-off skipped: no sweep over n_clusters was given")
    for name, jobs in sweeps.items():
        tag = f"_{slug(name)}" if len(sweeps) > 1 else ""
        figures.append(
            attempt(
                notes,
                f"K trade-off ({name})",
                lambda j=jobs, t=tag: k_tradeoff_figure(
                    j, inputs.runs, out / f"fig3_k_tradeoff{t}.png"
                ),
            )
        )
    return [path for path in figures if path is not None], notes


def make_frontier(inputs: Inputs, out: Path) -> tuple[list[Table], list[Path], list[str]]:
    """Table 9 and one frontier figure per model and preset in it."""
    try:
        table = frontier_table(inputs.runs, inputs.k_jobs)
    except NotAvailable as reason:
        return [], [], [f"Table 9 and the frontier figures skipped: {reason}"]
    notes: list[str] = []
    groups = table.data[["model", "preset"]].drop_duplicates().itertuples(index=False)
    figures = [
        attempt(
            notes,
            f"frontier ({model}, {preset})",
            lambda m=model, p=preset: frontier_figure(
                table.data, m, p, out / f"fig8_frontier_{slug(f'{m}-{p}')}.png"
            ),
        )
        for model, preset in groups
    ]
    return [table], [path for path in figures if path is not None], notes


def write_index(tables: Sequence[Table], figures: Sequence[Path], out: Path) -> Path:
    """report.md: every Markdown table, then every figure, links relative to `out`."""
    parts = ["# Report", "", *(to_markdown(table) for table in tables)]
    parts += [f"![{path.stem}]({path.name})\n" for path in figures]
    index = out / "report.md"
    index.write_text("\n".join(parts))
    return index


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "inputs", nargs="+", type=Path, help="run directories and/or sweep (multirun) directories"
    )
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder")
    parser.add_argument(
        "--grid-images", type=int, default=6, help="photos (rows) in the saliency grid"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Builds every table and figure the inputs allow; returns the written paths."""
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    inputs, notes = discover(args.inputs)
    tables, table_notes = build_tables(inputs)
    checks, check_notes = agreement_tables(inputs.runs)
    tables, table_notes = [*tables, *checks], [*table_notes, *check_notes]
    figures, figure_notes = make_figures(inputs, args.out, args.grid_images)
    frontier, frontier_figures, frontier_notes = make_frontier(inputs, args.out)
    tables += frontier
    figures += frontier_figures
    written = [path for table in tables for path in write_table(table, args.out)]
    written += [*figures, write_index(tables, figures, args.out)]
    for note in [*notes, *table_notes, *figure_notes, *frontier_notes]:
        print(f"note: {note}")
    for path in written:
        print(f"wrote {path}")
    return written
