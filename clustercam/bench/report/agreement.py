"""The tables of runs with metrics=full (docs/metrics.md): the checks on the metrics themselves,
Table 9, the Kendall tau between every two metrics' rankings of the methods, with its heat map,
and Table 10, each method's median rank over all metrics (LATEC, Klein et al. 2024); Table 11, the
metrics that metrics=full adds, per method; Table 12, each metric's own passes and seconds.

A metric ranks the methods by their mean over the images each one scored, best first by the
metric's own direction (`Field.better`, the one column schema), ties sharing their mean rank. The
tau is scipy's tau-b over the methods both metrics scored, signed so that +1 means the two agree
on which method is better. Costs are not metrics of quality and take no part.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import kendalltau, rankdata

from clustercam.bench import stats
from clustercam.bench.columns import SUMMARISED, Field, table_fields
from clustercam.bench.report.figures import save
from clustercam.bench.report.runs import Run
from clustercam.bench.report.tables import (
    BASE_COLUMNS,
    CI_NOTE,
    Column,
    NotAvailable,
    Table,
    caption,
    frame,
    method_rows,
    metric_columns,
    pretty,
    provenance_lines,
    runs_note,
)

QUALITY_TABLES = ("confidence", "causal", "localization", "full")
RANKED: tuple[Field, ...] = tuple(
    f for f in SUMMARISED if f.table in QUALITY_TABLES and f.better is not None
)
MIN_METHODS = 3  # fewer methods give no ranking to compare


def ranked_fields(run: Run) -> list[Field]:
    """The quality metrics the run has values of (a default run has no metrics=full columns)."""
    return [f for f in RANKED if f.name in run.rows and np.isfinite(run.rows[f.name]).any()]


def is_full(run: Run) -> bool:
    """Whether the run has the metrics=full columns and enough methods to rank."""
    full = any(f.table == "full" for f in ranked_fields(run))
    return full and len(run.methods) >= MIN_METHODS


def full_runs(runs: Sequence[Run]) -> list[Run]:
    """The runs `is_full` accepts; NotAvailable when there is none."""
    found = [run for run in runs if is_full(run)]
    if not found:
        raise NotAvailable(f"no run with metrics=full and at least {MIN_METHODS} methods")
    return found


def method_means(run: Run) -> pd.DataFrame:
    """Methods x ranked metrics (field names): each method's mean over the images it scored."""
    fields = ranked_fields(run)
    rows = {}
    for method in run.methods:
        summary, _ = stats.summarize_fields(run.rows[run.rows["method"] == method], fields)
        rows[method] = {field.name: summary[field.name][0] for field in fields}
    return pd.DataFrame.from_dict(rows, orient="index")


def goodness(means: pd.DataFrame) -> pd.DataFrame:
    """The means signed so that larger is better for every metric."""
    signs = {f.name: 1.0 if f.better == "higher" else -1.0 for f in RANKED}
    return means * pd.Series({name: signs[name] for name in means.columns})


def ranks(means: pd.DataFrame) -> pd.DataFrame:
    """Methods x metrics: 1 = best; ties share their mean rank; NaN where a method has no mean."""
    good = goodness(means)
    ranked = {}
    for name, column in good.items():
        values = column.to_numpy(dtype=float)
        out = np.full(len(values), np.nan)
        finite = np.isfinite(values)
        out[finite] = rankdata(-values[finite], method="average")
        ranked[name] = out
    return pd.DataFrame(ranked, index=means.index)


def kendall_matrix(means: pd.DataFrame) -> pd.DataFrame:
    """Metrics x metrics: Kendall's tau-b between the two metrics' orders of the methods."""
    good = goodness(means)
    names = list(good.columns)
    matrix = pd.DataFrame(np.nan, index=names, columns=names)
    for a in names:
        for b in names:
            both = good[[a, b]].dropna()
            if len(both) >= MIN_METHODS:
                matrix.loc[a, b] = kendalltau(both[a], both[b]).statistic
    return matrix


def _label(name: str) -> str:
    field = next(f for f in RANKED if f.name == name)
    mark = "↑" if field.better == "higher" else "↓"
    return f"{field.label or name} {mark}"


def agreement_table(runs: Sequence[Run]) -> Table:
    """Table 9: the Kendall tau between every two metrics, one block of rows per run."""
    runs = full_runs(runs)
    rows, keys = [], []
    for run in runs:
        matrix = kendall_matrix(method_means(run))
        keys += [k for k in matrix.columns if k not in keys]
        for name in matrix.index:
            rows.append({"model": run.model, "data": run.data, "label": _label(name),
                         "metric": name, **matrix.loc[name].to_dict()})  # fmt: skip
    metric_cells = (Column(k, _label(k), 2) for k in keys)
    columns = (*BASE_COLUMNS[:2], Column("label", "Metric"), *metric_cells)
    text = caption(
        "Kendall's tau-b between two metrics' rankings of the methods (each by its mean over the "
        "images a method scored, signed by the metric's direction: +1 = the same order of better "
        "methods, -1 = the reverse)",
        runs_note(runs),
    )
    return Table(9, "table9_metric_agreement", "Metric agreement (Kendall tau)", text,
                 columns, frame(rows, columns), ("model", "data"),
                 provenance_lines(runs))  # fmt: skip


def median_rank_table(runs: Sequence[Run]) -> Table:
    """Table 10: each method's median rank over every metric, then its rank under each one."""
    runs = full_runs(runs)
    rows, keys = [], []
    for run in runs:
        ranked = ranks(method_means(run))
        keys += [k for k in ranked.columns if k not in keys]
        for method, row in ranked.iterrows():
            rows.append({"model": run.model, "data": run.data, "label": pretty(str(method)),
                         "median_rank": float(np.nanmedian(row)),
                         "mean_rank": float(np.nanmean(row)),
                         "n_metrics": int(row.notna().sum()), **row.to_dict()})  # fmt: skip
    data = pd.DataFrame(rows).sort_values(["model", "data", "median_rank", "mean_rank"])
    columns = (
        *BASE_COLUMNS[:3],
        Column("median_rank", "Median rank", 1),
        Column("mean_rank", "Mean rank", 2),
        Column("n_metrics", "Metrics", 0),
        *(Column(k, _label(k), 1) for k in keys),
    )
    text = caption(
        "Median rank of each method over all metrics (1 = best; LATEC's summary), its mean "
        "rank, and its rank under each metric (ties share their mean rank)",
        runs_note(runs),
    )
    return Table(10, "table10_median_rank", "Median rank over all metrics", text, columns,
                 frame(data.to_dict("records"), columns), ("model", "data"),
                 provenance_lines(runs))  # fmt: skip


def agreement_figure(run: Run, out: Path) -> Path:
    """Heat map of Table 9 for one run."""
    full_runs([run])
    matrix = kendall_matrix(method_means(run))
    labels = [_label(name) for name in matrix.index]
    fig, axis = plt.subplots(figsize=(1.0 + 0.5 * len(labels), 0.6 + 0.45 * len(labels)))
    image = axis.imshow(matrix.to_numpy(dtype=float), cmap="RdBu", vmin=-1, vmax=1)
    axis.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(len(labels)), labels, fontsize=8)
    for i in range(len(labels)):
        for j in range(len(labels)):
            value = matrix.iat[i, j]
            if np.isfinite(value):
                axis.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6)
    fig.colorbar(image, ax=axis, label="Kendall tau (+1: same order of methods)")
    axis.set_title(f"Metric agreement: {run.model}, {len(run.methods)} methods", fontsize=10)
    fig.tight_layout()
    return save(fig, out)


def per_method_table(
    runs: Sequence[Run], number: int, name: str, title: str, fields: Sequence[Field], text: str
) -> Table:
    """Mean ± 95% CI of `fields` (those every run has) per method, one block per metrics=full
    run."""
    runs = full_runs(runs)
    fields = [f for f in fields if all(f.name in run.rows for run in runs)]
    if not fields:
        raise NotAvailable(f"no run has the columns of {name}")
    rows, notes = [], []
    for run in runs:
        run_rows, run_notes = method_rows(run, fields)
        rows += run_rows
        notes += run_notes
    columns = (*BASE_COLUMNS, *metric_columns(fields))
    return Table(number, name, title, caption(text, CI_NOTE, runs_note(runs), *notes), columns,
                 frame(rows, columns), ("model", "data"), provenance_lines(runs))  # fmt: skip


def full_table(runs: Sequence[Run]) -> Table:
    """Table 11: the metrics that metrics=full adds, per method."""
    return per_method_table(
        runs, 11, "table11_full_metrics", "Complexity, Average Gain, ADCC, robustness, ROAD",
        table_fields("full"),
        "Sparseness (Gini, higher = sparser), Complexity (entropy, nats), Average Gain (%), ADCC "
        "and its Coherency and complexity (mean saliency), Max-Sensitivity (N noisy inputs), ROAD "
        "MoRF / LeRF AUCs and combined score; arrows give each one's better direction "
        "(docs/metrics.md)",
    )  # fmt: skip


def metric_cost_table(runs: Sequence[Run]) -> Table:
    """Table 12: each metric's own forward passes and seconds per image, per method."""
    return per_method_table(
        runs, 12, "table12_metric_cost", "Cost of each metric per image",
        table_fields("metric_cost"),
        "Each metric's own forward passes (with the method calls ADCC and Max-Sensitivity make) "
        "and seconds per image; what every method of an image shares (p_c(x), the curves' "
        "endpoints) is not in them. ROAD imputation s: the part of ROAD's seconds spent in its "
        "sparse solves",
    )  # fmt: skip


def agreement_tables(runs: Sequence[Run]) -> tuple[list[Table], list[str]]:
    """Tables 8 to 11, or a note for each the runs cannot support."""
    tables, notes = [], []
    for name, build in (("Table 9", agreement_table), ("Table 10", median_rank_table),
                        ("Table 11", full_table), ("Table 12", metric_cost_table)):  # fmt: skip
        try:
            tables.append(build(runs))
        except NotAvailable as reason:
            notes.append(f"{name} skipped: {reason}")
    return tables, notes
