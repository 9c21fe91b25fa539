"""Table 8 and its figures: the cost-quality frontier, every method of a model at its cost per
image against its quality, Cluster-CAM's K sweep as a curve, and the Pareto front marked.

Cost is passes per image (forward + backward + tail, the method's own; a tail pass runs only the
layers after the target layer, so it is counted as one pass though it costs less) and seconds.
A point is on the Pareto front of a quality metric when no other point of its model costs at most
as many passes and is at least as good, and strictly one of the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, NullFormatter

from clustercam.bench.columns import BY_NAME, Field
from clustercam.bench.report.figures import save
from clustercam.bench.report.runs import Job, Run, canonical
from clustercam.bench.report.tables import (
    CI_NOTE,
    PAIRED_NOTE,
    Column,
    NotAvailable,
    Table,
    caption,
    frame,
    method_rows,
    metric_columns,
    paired_columns,
    present,
    provenance_lines,
    reference_method,
    runs_note,
)

PASS_FIELDS = (BY_NAME["forward"], BY_NAME["backward"], BY_NAME["tail"])
QUALITY = (BY_NAME["insertion_auc"], BY_NAME["deletion_auc"], BY_NAME["drop_continuous"])
SANITY = frozenset({"random", "center"})  # canonical names: maps that explain nothing
PASSES, SECONDS = "passes", BY_NAME["seconds"]


def pareto(costs: np.ndarray, values: np.ndarray, better: str) -> np.ndarray:
    """Whether each point is on the front: no other point costs <= and is >= as good, with one
    of the two strict. Points with a missing cost or value are never on it."""
    costs, values = np.asarray(costs, float), np.asarray(values, float)
    gain = values if better == "higher" else -values
    finite = np.isfinite(costs) & np.isfinite(gain)
    front = finite.copy()
    for i in np.flatnonzero(finite):
        others = finite & (costs <= costs[i]) & (gain >= gain[i])
        others &= (costs < costs[i]) | (gain > gain[i])
        front[i] = not others.any()
    return front


def front_key(field: Field) -> str:
    return f"front_{field.key}"


def shown_methods(run: Run) -> list[str]:
    """A run's methods on the frontier: its Cluster-CAM and every non-Cluster-CAM method but the
    sanity maps (Random, Center); Cluster-CAM variants belong to Table 5."""
    reference = reference_method(run)
    variants = set(run.cluster_methods) - {reference}
    return [m for m in run.methods if m not in variants and canonical(m) not in SANITY]


def with_passes(rows: list[dict[str, object]]) -> None:
    """Adds passes = forward + backward + tail (means, so the mean of the sums); a count a run
    did not record (older runs have no tail column) adds nothing."""
    for row in rows:
        counts = [row.get(field.key, np.nan) for field in PASS_FIELDS]
        row[PASSES] = float(np.nansum(np.array(counts, dtype=float)))


def on_images(run: Run, images: set[str]) -> Run:
    """The run restricted to these images."""
    return replace(run, rows=run.rows[run.rows["image_id"].isin(images)])


def frontier_table(runs: Sequence[Run], jobs: Sequence[Job]) -> Table:
    """Table 8: per model (and preset), one row per method of its runs (the first run given wins
    a method two runs share) and one per K of Cluster-CAM's K sweeps of that model, with the
    Pareto front of passes against each quality metric. A model's rows are all means over the
    images every one of its runs holds, so that they can be compared."""
    runs = [run for run in runs if present(QUALITY[:2], [run])]
    if not runs:
        raise NotAvailable("no run has deletion/insertion AUCs")
    metrics = present((*PASS_FIELDS, SECONDS, *QUALITY), runs)
    quality = [field for field in QUALITY if field in metrics]
    rows: list[dict[str, object]] = []
    notes: list[str] = []
    groups = dict.fromkeys((run.model, run.preset) for run in runs)
    used: list[Run] = []
    for model, preset in groups:
        group: list[dict[str, object]] = []
        sweep = [j for j in jobs if (j.run.model, j.run.preset) == (model, preset) and j.k]
        members = [r for r in runs if (r.model, r.preset) == (model, preset)]
        every = [*members, *(job.run for job in sweep)]
        images = set.intersection(*(set(run.rows["image_id"]) for run in every))
        for run in (on_images(r, images) for r in members):
            methods = [m for m in shown_methods(run) if m not in {r["method"] for r in group}]
            run_rows, run_notes = method_rows(run, metrics, methods, preset=preset, k=None)
            group += run_rows
            notes += run_notes
            used += [run] if methods else []
        for job in sorted(sweep, key=lambda j: j.k or 0):
            run = on_images(job.run, images)
            for method in run.cluster_methods:
                job_rows, job_notes = method_rows(run, metrics, [method], preset=preset, k=job.k)
                group += [{**row, "label": f"{row['label']} K={job.k}"} for row in job_rows]
                notes += job_notes
                used.append(run)
        with_passes(group)
        for field in quality:
            fronts = pareto(
                np.array([row[PASSES] for row in group], float),
                np.array([row[field.key] for row in group], float),
                str(field.better),
            )
            for row, on in zip(group, fronts):
                row[front_key(field)] = "yes" if on else ""
        rows += group
    if not rows:
        raise NotAvailable("no method to place on the frontier")
    columns = (
        Column("model", "Model"),
        Column("preset", "Preset"),
        Column("label", "Method"),
        Column("run", "Run"),
        Column("n", "N", 0),
        Column(PASSES, "Passes", 1),
        *metric_columns([SECONDS, *quality]),
        *(Column(front_key(f), f"Front {f.label.split(' (')[0]}") for f in quality),
        *paired_columns(quality),
    )
    text = caption(
        f"Cost-quality frontier, {CI_NOTE}",
        "Passes: forward + backward + tail passes per image, the method's own (a tail pass runs "
        "only the layers after the target layer); Seconds: its wall time per image, measured in "
        "the run named, on a shared CPU, so compare seconds only within one run",
        "Front: on the Pareto front of passes against that metric within the model (no other row "
        "has at most as many passes and an at least as good mean, one of them strictly)",
        "All rows of a model are over the images that all its runs hold (Runs below); rows "
        "'Cluster-CAM K=...' come from the K sweep; a method in several runs is shown from the "
        "first run given; Random and Center (sanity maps) and Cluster-CAM variants are left "
        "out",
        PAIRED_NOTE + " of the same run (K sweep rows are not paired)",
        runs_note(used),
        *notes,
    )
    return Table(
        8,
        "table8_frontier",
        "Cost-quality frontier",
        text,
        columns,
        frame(rows, columns),
        ("model", "preset"),
        provenance_lines(used),
    )


def frontier_figure(data: pd.DataFrame, model: str, preset: str, out: Path) -> Path:
    """Passes (top row) and seconds (bottom) per image, log scale, against each quality metric:
    one point per method, Cluster-CAM's K sweep as a line, the Pareto front as a dashed step."""
    rows = data[(data["model"] == model) & (data["preset"] == preset)]
    if rows.empty:
        raise NotAvailable(f"no frontier rows for {model} ({preset})")
    quality = [f for f in QUALITY if f.key in rows and np.isfinite(rows[f.key]).any()]
    sweep = rows[rows["k"].notna()].sort_values("k")
    points = rows[rows["k"].isna()]
    fig, axes = plt.subplots(2, len(quality), figsize=(5 * len(quality), 8), squeeze=False)
    for axes_row, (cost, cost_label) in zip(
        axes, ((PASSES, "passes per image"), (SECONDS.key, "seconds per image"))
    ):
        for axis, field in zip(axes_row, quality):
            on = pareto(rows[cost].to_numpy(), rows[field.key].to_numpy(), str(field.better))
            front = rows[on].sort_values(cost)
            axis.step(front[cost], front[field.key], where="post", ls="--", color="0.5", lw=1,
                      label="Pareto front")  # fmt: skip
            if not sweep.empty:
                axis.plot(sweep[cost], sweep[field.key], "-o", color="tab:blue", ms=4,
                          label="Cluster-CAM, K sweep")  # fmt: skip
                for _, row in sweep.iterrows():
                    axis.annotate(f"K={int(row['k'])}", (row[cost], row[field.key]),
                                  fontsize=6, textcoords="offset points", xytext=(3, -8),
                                  color="tab:blue")  # fmt: skip
            for _, row in points.iterrows():
                cluster = canonical(str(row["method"])).startswith("clustercam")
                axis.scatter(row[cost], row[field.key], s=40 if cluster else 20, zorder=3,
                             color="tab:red" if cluster else "k",
                             marker="*" if cluster else "o")  # fmt: skip
                axis.annotate(str(row["label"]), (row[cost], row[field.key]), fontsize=6,
                              textcoords="offset points", xytext=(3, 3))  # fmt: skip
            axis.scatter(front[cost], front[field.key], s=90, facecolors="none",
                         edgecolors="tab:orange", zorder=4, label="on the front")  # fmt: skip
            axis.set_xscale("log")  # before the formatters: setting the scale resets them
            axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axis.xaxis.set_minor_formatter(NullFormatter())
            axis.margins(x=0.15, y=0.1)
            axis.set(xlabel=cost_label, ylabel=f"{field.label} ({field.better} is better)")
            axis.legend(fontsize=6)
    fig.suptitle(f"Cost-quality frontier: {model}, preset {preset}", fontsize=10)
    fig.tight_layout()
    return save(fig, out)
