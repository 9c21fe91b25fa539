"""A run's summaries: summary.csv (every mean and 95% half-width per method) and summary.md (the
main ones with ± and lower/higher-is-better marks), computed from per_image.csv alone.

One writer for a run and for merged shards (clustercam.bench.merge), so that the two are the same
byte for byte; the run folder's files are clustercam.bench.run_folder, the statistics
clustercam.bench.stats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from clustercam.bench import stats
from clustercam.bench.columns import SUMMARISED, Field, table_fields
from clustercam.bench.run_folder import SUMMARY_CSV, SUMMARY_MD, read_per_image

# summary.md's columns: the curves, AD/IC, localisation, and the method's own cost (not the
# metrics'); a column without any value (a metric switched off) is left out.
BRIEF_FIELDS: tuple[Field, ...] = (
    *table_fields("causal"),
    *table_fields("confidence"),
    *table_fields("localization"),
    *(f for f in table_fields("cost") if not f.name.startswith("metric_")),
)
MARKS = {"lower": "↓", "higher": "↑"}


def summarize_run(
    per_image: pd.DataFrame,
    methods: Sequence[str] | None = None,
    setup_costs: Mapping[str, Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """One row per method: counts, then the mean and 95% t-interval half-width of each metric.

    Over the rows a method did not skip, as in the report's tables; n_skipped says how many it
    did (an unreadable image, an invalid map).
    """
    methods = list(methods) if methods is not None else list(dict.fromkeys(per_image["method"]))
    setup_costs = setup_costs or {}
    table = []
    fields = [field for field in SUMMARISED if field.name in per_image]  # the run's own columns
    for method in methods:
        rows = per_image[per_image["method"] == method]
        summary, _ = stats.summarize_fields(rows, fields)
        entry: dict[str, Any] = {
            "method": method,
            "n_images": len(rows),
            "n_skipped": len(rows) - len(stats.kept_rows(rows)),
        }
        for field in fields:
            mean, half, _ = summary[field.name]
            entry[f"{field.summary_name}_mean"], entry[f"{field.summary_name}_ci95"] = mean, half
        entry["setup_forward"] = setup_costs.get(method, {}).get("forward", 0.0)
        table.append(entry)
    return pd.DataFrame(table)


def write_summaries(
    run_dir: Path,
    methods: Sequence[str],
    setup_costs: Mapping[str, Mapping[str, float]],
    preface: str = "",
) -> pd.DataFrame:
    """summary.csv and summary.md of a run folder from its per_image.csv (one writer for a run
    and for merged shards, so that the two are the same); `preface` opens summary.md."""
    summary = summarize_run(read_per_image(run_dir), methods, setup_costs)
    summary.to_csv(Path(run_dir) / SUMMARY_CSV, index=False)
    (Path(run_dir) / SUMMARY_MD).write_text(preface + readable_summary(summary))
    return summary


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub Markdown table, numbers to 4 significant digits, missing ones empty."""
    cells = table.astype(object).where(table.notna(), None)  # tabulate leaves None cells empty
    return cells.to_markdown(index=False, floatfmt=".4g", missingval="") + "\n"


def readable_summary(summary: pd.DataFrame) -> str:
    """summary.md: the main means ± 95% half-widths per method, marked lower/higher is better.

    Columns without any value (a metric switched off) are left out; summary.csv keeps them all.
    """
    table = pd.DataFrame({
        "method": summary["method"],
        "N": summary["n_images"] - summary["n_skipped"],
        "skipped": summary["n_skipped"],
    })
    for field in BRIEF_FIELDS:
        mean, half = summary[f"{field.summary_name}_mean"], summary[f"{field.summary_name}_ci95"]
        if mean.isna().all():
            continue
        with_interval = field.table != "cost"
        table[f"{field.label} {MARKS[field.better]}"] = [
            _plus_minus(m, h if with_interval else math.nan, field.decimals)
            for m, h in zip(mean, half)
        ]
    note = (
        "\nMean ± half-width of the 95% t-interval over the N images a method scored (skipped: "
        "the ones it did not); ↓ lower is better, ↑ higher is better; cost is the method's own, "
        "per image. All means and intervals: summary.csv.\n"
    )
    return table.to_markdown(index=False, disable_numparse=True) + "\n" + note


def _plus_minus(mean: float, half: float, decimals: int) -> str:
    if math.isnan(mean):
        return ""
    if math.isnan(half):
        return f"{mean:.{decimals}f}"
    return f"{mean:.{decimals}f} ± {half:.{decimals}f}"
