"""Tables 1-5 as data: one DataFrame (the CSV) plus the columns and caption to print it with.

Every number cell is a mean with its 95% t-interval half-width in `<key>_ci95`; N counts the
images a method did not skip and `skipped` the ones it did. The comparison tables (1, 2, 5) also
carry, per metric, each method's paired difference to the run's Cluster-CAM over the same images
(`<key>_diff`, `<key>_diff_ci95`), its Wilcoxon p-value (`<key>_p`) and win/tie/loss counts
(`<key>_wtl`, wins by the metric's own better direction), from `stats.paired`. Published rows
(docs/metrics.md) carry their source in `source` and appear only after runs of the same model
and protocol.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clustercam.bench import stats
from clustercam.bench.columns import BY_NAME, Field, table_fields
from clustercam.bench.report.published import (
    RISE,
    Reference,
    causal_references,
    confidence_references,
)
from clustercam.bench.report.runs import Inputs, Job, Run, canonical, lookup
from metrics import MODES, PRESETS

THIS_RUN = "this run"
PRETTY = {  # keyed by canonical(method)
    "gradcam": "Grad-CAM",
    "gradcampp": "Grad-CAM++",
    "scorecam": "Score-CAM",
    "clustercam": "Cluster-CAM",
    "groupcam": "Group-CAM",
    "groupcamkmeans": "Group-CAM (k-means)",
    "ablationcam": "Ablation-CAM",
    "layercam": "Layer-CAM",
    "sscam": "SS-CAM",
    "rise": "RISE",
    "eigencam": "Eigen-CAM",
    "random": "Random",
    "center": "Center",
    "hirescam": "HiResCAM",
    "xgradcam": "XGrad-CAM",
    "reciprocam": "Recipro-CAM",
    "fem": "FEM",
    "kpcacam": "KPCA-CAM",
    "cfcam": "CF-CAM",
    "opticam": "Opti-CAM",
    "fake": "Fake",
}
# The adapters' classes (baselines/adapters.py) -> the library whose method they run.
LIBRARIES = {"PytorchGradCAM": "pytorch-grad-cam", "TorchCAM": "torchcam"}
CI_NOTE = (
    "mean ± 95% CI (t interval) over the N images a method did not skip; Skipped counts the rest"
)
PUBLISHED_NOTE = (
    "Rows whose Source starts with 'published' are the papers' numbers (recalled, not re-checked "
    "against the PDFs) on their own data (column Data), shown only beside runs of the same model "
    "and protocol."
)

PRESETS_NOTE = "; ".join(
    f"{name} = step {p.step}, blur {p.blur_kernel}/{p.blur_sigma:g}" for name, p in PRESETS.items()
)


class NotAvailable(Exception):
    """The inputs cannot support this table or figure; the message says what is missing."""


@dataclass(frozen=True)
class Column:
    """A printed column: a text column (decimals None) or a number, with its CI when `ci`."""

    key: str
    label: str
    decimals: int | None = None
    ci: bool = False


@dataclass(frozen=True)
class Table:
    """A table's numbers (`data`, written as CSV) and how to print them (Markdown, LaTeX).

    `break_on`: a rule is drawn between rows whose values in these columns differ, so each run
    and each block of published rows stands apart. `provenance`: one line per run the table
    draws from, printed under it (`provenance_lines`).
    """

    number: int
    name: str
    title: str
    caption: str
    columns: tuple[Column, ...]
    data: pd.DataFrame
    break_on: tuple[str, ...] = ()
    provenance: tuple[str, ...] = ()


def pretty(method: str) -> str:
    """Paper spelling of the methods the project names (e.g. Score-CAM); other names as given."""
    return PRETTY.get(canonical(method), method)


def method_label(run: Run, method: str) -> str:
    """A method's label in a table or figure: a library's method says whose it is
    (`Grad-CAM (pytorch-grad-cam)`), so that it never reads as our reimplementation."""
    options = run.method_configs.get(method, {})
    library = LIBRARIES.get(str(options.get("_target_", "")).rsplit(".", 1)[-1])
    if library is None:
        return pretty(method)
    return f"{pretty(str(options.get('class_name') or method))} ({library})"


CAUSAL_METRICS = table_fields("causal")
COST_METRICS = table_fields("cost")
ABLATION_METRICS = (BY_NAME["forward"], BY_NAME["seconds"], *CAUSAL_METRICS)


def summary_cells(
    rows: pd.DataFrame, fields: Sequence[Field]
) -> tuple[dict[str, float], list[str]]:
    """N, skipped, and each field's mean and CI under the table's keys (`key`, `key_ci95`)."""
    summary, notes = stats.summarize_fields(rows, fields)
    kept = len(stats.kept_rows(rows))
    cells: dict[str, float] = {"n": kept, "skipped": len(rows) - kept}
    for field in fields:
        cells[field.key], cells[f"{field.key}_ci95"], _ = summary[field.name]
    return cells, notes


def present(metrics: Iterable[Field], runs: Iterable[Run]) -> list[Field]:
    """The metrics with at least one finite value in these runs (others were not configured)."""
    runs = list(runs)
    return [m for m in metrics if any(np.isfinite(r.rows[m.name]).any() for r in runs)]


def metric_columns(metrics: Iterable[Field]) -> list[Column]:
    return [Column(m.key, m.label, m.decimals, ci=True) for m in metrics]


PAIRED_NOTE = (
    "Paired vs Cluster-CAM: per metric, Δ = mean over the images both kept of (method - "
    "Cluster-CAM) ± 95% t interval, p = two-sided Wilcoxon signed-rank p-value (1 when all "
    "differences are 0), W/T/L = images where the method is better / tied (within "
    f"{stats.TIE_FRACTION:g} of the metric's range: 0.005 AUC, 0.5 AD points; IC flags tie "
    "only when equal) / worse than Cluster-CAM, by the metric's better direction"
)


def reference_method(run: Run) -> str | None:
    """The Cluster-CAM every other method of a run is paired with: the one named `clustercam`,
    else the run's first Cluster-CAM method; None when the run has none."""
    names = run.cluster_methods
    exact = [m for m in names if canonical(m) == "clustercam"]
    return (exact or names or [None])[0]


def paired_cells(run: Run, method: str, metrics: Sequence[Field]) -> dict[str, object]:
    """Each metric's paired difference, p-value and W/T/L of `method` against the reference."""
    reference = reference_method(run)
    if reference is None or method == reference:
        return {}
    cells: dict[str, object] = {"paired_with": reference}
    for field in metrics:
        result = stats.paired_by_image(run.rows, method, reference, field)
        cells[f"{field.key}_diff"] = result.mean
        cells[f"{field.key}_diff_ci95"] = result.ci95
        cells[f"{field.key}_p"] = result.p_value
        cells[f"{field.key}_wtl"] = result.record if result.n else ""
    return cells


def paired_columns(metrics: Iterable[Field]) -> list[Column]:
    columns = []
    for m in metrics:
        short = m.label.split(" (")[0]
        columns += [
            Column(f"{m.key}_diff", f"Δ {short} vs CC", m.decimals, ci=True),
            Column(f"{m.key}_p", f"p {short}", 3),
            Column(f"{m.key}_wtl", f"W/T/L {short}"),
        ]
    return columns


def method_rows(
    run: Run, metrics: Sequence[Field], methods: Iterable[str] | None = None, **extra: object
) -> tuple[list[dict[str, object]], list[str]]:
    """One summary row per method of a run (all methods unless `methods`), with notes, and each
    method's paired comparison with the run's Cluster-CAM (`paired_cells`)."""
    rows, notes = [], []
    for method in run.methods if methods is None else methods:
        summary, gaps = summary_cells(run.rows[run.rows["method"] == method], metrics)
        rows.append(
            {
                "run": run.name,
                "model": run.model,
                "data": run.data,
                "method": method,
                "label": method_label(run, method),
                "source": THIS_RUN,
                **extra,
                **summary,
                **paired_cells(run, method, metrics),
            }
        )
        notes += [f"{run.name}/{method}: {gap}" for gap in gaps]
    return rows, notes


def reference_row(ref: Reference, **extra: object) -> dict[str, object]:
    """A published row in the same schema: no CI, no skipped count, N where the paper gave it."""
    return {
        "run": "",
        "model": ref.model,
        "data": ref.data,
        "method": "",
        "label": ref.method,
        "source": ref.source,
        **extra,
        "n": math.nan if ref.n is None else ref.n,
        "skipped": math.nan,
        **ref.values,
    }


def caption(*parts: str) -> str:
    return " ".join(part.rstrip(".") + "." for part in parts if part)


def runs_note(runs: Iterable[Run]) -> str:
    """The protocol of each run, once per distinct protocol (sweep jobs share theirs)."""
    counts = Counter(run.describe() for run in runs)
    return "Runs: " + "; ".join(f"{text} x {n}" if n > 1 else text for text, n in counts.items())


def provenance_lines(runs: Iterable[Run]) -> tuple[str, ...]:
    """Where each run's numbers came from (versions, device, precision, commit), in order."""
    return tuple(run.provenance() for run in dict.fromkeys(runs))


def frame(rows: list[dict[str, object]], columns: Sequence[Column]) -> pd.DataFrame:
    """Rows -> DataFrame with the printed columns (and their CIs) first, bookkeeping after.

    Count columns (N, Skipped, K, Step) become nullable integers so the CSV says 5, not 5.0.
    """
    keys = []
    for column in columns:
        keys += [column.key, f"{column.key}_ci95"] if column.ci else [column.key]
    data = pd.DataFrame(rows)
    for key in keys:
        if key not in data:
            data[key] = math.nan
    for column in columns:
        if column.decimals == 0:  # counts: print 5, not 5.0, and leave published gaps empty
            data[column.key] = pd.to_numeric(data[column.key]).astype("Int64")
    rest = [key for key in data.columns if key not in keys]
    return data[keys + rest]


BASE_COLUMNS = (
    Column("model", "Model"),
    Column("data", "Data"),
    Column("label", "Method"),
    Column("source", "Source"),
    Column("n", "N", 0),
    Column("skipped", "Skipped", 0),
)


def confidence_table(runs: Sequence[Run]) -> Table:
    """Table 1: AD and IC per method, a column pair per mask mode that any run scored."""
    runs = [run for run in runs if run.modes()]
    if not runs:
        raise NotAvailable("no run has AD/IC numbers (metrics.confidence not configured)")
    modes = [mode for mode in MODES if any(mode in run.modes() for run in runs)]
    metrics = table_fields("confidence", tuple(modes))
    rows, notes = [], []
    references = []
    for run in runs:
        run_rows, run_notes = method_rows(run, metrics)
        refs = confidence_references(run)
        rows += run_rows + [reference_row(ref) for ref in refs]
        notes += run_notes
        references += refs
    columns = (*BASE_COLUMNS, *metric_columns(metrics), *paired_columns(metrics))
    text = caption(
        "Average Drop (AD, %, lower is better) and Increase in Confidence (IC, %, higher is "
        f"better), {CI_NOTE}",
        PAIRED_NOTE,
        "Per image, Y = p_c(x) and O = p_c(x * E); drop = 100 * max(0, Y - O) / Y, increase = "
        "1[O > Y]; cont.: E = the saliency map, top-50%: E = 1[L >= median(L)]",
        runs_note(runs),
        PUBLISHED_NOTE if references else "",
        *notes,
    )
    return Table(
        1,
        "table1_confidence",
        "Average Drop / Increase in Confidence",
        text,
        columns,
        frame(rows, columns),
        ("model", "data", "source"),
        provenance_lines(runs),
    )


def causal_table(runs: Sequence[Run]) -> Table:
    """Table 2: deletion and insertion AUC per method, one block per run (model and preset)."""
    runs = [run for run in runs if present(CAUSAL_METRICS, [run])]
    if not runs:
        raise NotAvailable("no run has deletion/insertion AUCs (metrics.causal not configured)")
    metrics = present(CAUSAL_METRICS, runs)
    rows, notes, references = [], [], []
    for run in runs:
        run_rows, run_notes = method_rows(run, metrics, preset=run.preset, step=run.step)
        refs = causal_references(run)
        rows += run_rows + [reference_row(r, preset=RISE, step=PRESETS[RISE].step) for r in refs]
        notes += run_notes
        references += refs
    columns = (
        *BASE_COLUMNS[:2],
        Column("preset", "Preset"),
        Column("step", "Step", 0),
        *BASE_COLUMNS[2:],
        *metric_columns(metrics),
        *paired_columns(metrics),
    )
    text = caption(
        f"Deletion AUC (lower is better) and Insertion AUC (higher is better), {CI_NOTE}",
        PAIRED_NOTE,
        "Pixels ranked by saliency, Step pixels changed per point; deletion sets them to 0, "
        "insertion starts from a blurred image and puts them back; AUC by the trapezoid on [0, 1]. "
        "Presets: " + PRESETS_NOTE,
        runs_note(runs),
        PUBLISHED_NOTE if references else "",
        *notes,
    )
    return Table(
        2,
        "table2_deletion_insertion",
        "Deletion / Insertion AUC",
        text,
        columns,
        frame(rows, columns),
        ("model", "data", "preset", "source"),
        provenance_lines(runs),
    )


def paired_ratio(run: Run, numerator: str, denominator: str, column: str) -> float:
    """mean(numerator) / mean(denominator) of `column` over images both methods kept."""
    rows = run.rows[(run.rows["skipped"] == "") & np.isfinite(run.rows[column])]
    wide = rows.pivot_table(index="image_id", columns="method", values=column).dropna(
        subset=[numerator, denominator]
    )
    if wide.empty or wide[denominator].mean() == 0:
        return math.nan
    return float(wide[numerator].mean() / wide[denominator].mean())


def score_cam_of(run: Run) -> str | None:
    """The run's Score-CAM method: `scorecam` itself, else the first scorecam... variant."""
    names = [m for m in run.methods if canonical(m).startswith("scorecam")]
    exact = [m for m in names if canonical(m) == "scorecam"]
    return (exact or names or [None])[0]


def cost_table(runs: Sequence[Run]) -> Table:
    """Table 3: cost per image of each method and the speed-up of Cluster-CAM over Score-CAM."""
    runs = [run for run in runs if present(COST_METRICS[:1], [run])]
    if not runs:
        raise NotAvailable("no run has forward-pass counts")
    metrics = present(COST_METRICS, runs)
    rows, notes = [], []
    for run in runs:
        run_rows, run_notes = method_rows(run, metrics)
        score_cam = score_cam_of(run)
        for row in run_rows:
            method = str(row["method"])
            row["setup_forward"] = run.setup_costs.get(method, {}).get("forward", 0.0)
            if score_cam is not None and method in run.cluster_methods:
                row["speedup_forward"] = paired_ratio(run, score_cam, method, "forward")
                row["speedup_seconds"] = paired_ratio(run, score_cam, method, "seconds")
        rows += run_rows
        notes += run_notes
    setup = any(row["setup_forward"] for row in rows)
    columns = (
        *BASE_COLUMNS[:3],
        *BASE_COLUMNS[4:],
        *metric_columns(metrics),
        *([Column("setup_forward", "Setup forward (once)", 0)] if setup else []),
        Column("speedup_forward", "Speed-up (forward)", 2),
        Column("speedup_seconds", "Speed-up (seconds)", 2),
    )
    text = caption(
        f"Cost per image, {CI_NOTE}",
        "Forward: images sent through the full network; Backward: backward passes; Seconds: wall "
        "time of the method alone. Metric forward / seconds: the faithfulness metrics' own cost, "
        "reported apart",
        "Setup forward: passes a method makes once per run (e.g. the blank image of the "
        "baseline cognition rule), not per image"
        if setup
        else "",
        "Speed-up: Score-CAM / Cluster-CAM, ratio of the means over images both kept",
        runs_note(runs),
        *notes,
    )
    return Table(
        3,
        "table3_cost",
        "Cost per image",
        text,
        columns,
        frame(rows, columns),
        ("model", "data"),
        provenance_lines(runs),
    )


def ablation_metrics(runs: Iterable[Run]) -> list[Field]:
    runs = list(runs)
    modes = [mode for mode in MODES if any(mode in run.modes() for run in runs)]
    return present((*ABLATION_METRICS, *table_fields("confidence", tuple(modes))), runs)


def k_table(jobs: Sequence[Job]) -> Table:
    """Table 4: Cluster-CAM's metrics and cost against K, from sweeps over n_clusters."""
    jobs = sorted((job for job in jobs if job.k is not None), key=lambda j: (j.setting(False), j.k))
    if not jobs:
        raise NotAvailable("no sweep over n_clusters was given")
    metrics = ablation_metrics(job.run for job in jobs)
    rows, notes = [], []
    for job in jobs:
        job_rows, job_notes = method_rows(
            job.run,
            metrics,
            job.run.cluster_methods,
            k=job.k,
            setting=job.setting(False),
            sweep=job.sweep,
        )
        rows += job_rows
        notes += job_notes
    if not rows:
        raise NotAvailable("the K sweep has no Cluster-CAM method rows")
    setting = [Column("setting", "Setting")] if any(job.setting(False) for job in jobs) else []
    columns = (
        BASE_COLUMNS[0],
        *setting,
        BASE_COLUMNS[2],
        Column("k", "K", 0),
        *BASE_COLUMNS[4:],
        *metric_columns(metrics),
    )
    text = caption(
        f"K ablation: Cluster-CAM against the number of clusters K, {CI_NOTE}",
        "Forward and Seconds: the method's cost per image (1 + K forward passes with the masked "
        "score rule)",
        runs_note(job.run for job in jobs),
        *notes,
    )
    return Table(
        4,
        "table4_k_ablation",
        "K ablation",
        text,
        columns,
        frame(rows, columns),
        ("model", "setting", "label"),
        provenance_lines(job.run for job in jobs),
    )


SETTINGS = (
    Column("clustering", "Clustering"),
    Column("features", "Features"),
    Column("score", "Score"),
    Column("cognition", "Cognition"),
    Column("lam", "lambda", 2),
    Column("n_clusters", "K", 0),
)


def settings(run: Run, method: str) -> dict[str, object]:
    """The variant's options as the run's config resolved them (empty where it does not say)."""
    options = run.method_configs.get(method, {})
    return {column.key: options.get(column.key) for column in SETTINGS}


def variant_table(runs: Sequence[Run], jobs: Sequence[Job]) -> Table:
    """Table 5: Cluster-CAM variants, from runs with several Cluster-CAM methods or sweeps.

    Each row also shows the variant's resolved options, so a row named cc_extremes or
    cognition=extremes can be read without opening its config.
    """
    variant_runs = [run for run in runs if len(run.cluster_methods) > 1]
    if not variant_runs and not jobs:
        raise NotAvailable("no run with several Cluster-CAM methods and no variant sweep")
    sources = [*variant_runs, *(job.run for job in jobs)]
    metrics = ablation_metrics(sources)
    rows, notes = [], []
    labelled = [(run, "", None) for run in variant_runs]
    labelled += [(job.run, job.setting(True), job.sweep) for job in jobs]
    for run, label, sweep in labelled:
        run_rows, run_notes = method_rows(run, metrics, run.cluster_methods, sweep=sweep)
        rows += [
            {**row, "variant": label or row["method"], **settings(run, str(row["method"]))}
            for row in run_rows
        ]
        notes += run_notes
    if not rows:
        raise NotAvailable("the variant runs have no Cluster-CAM method rows")
    shown = [c for c in SETTINGS if any(row[c.key] is not None for row in rows)]
    columns = (
        BASE_COLUMNS[0],
        Column("variant", "Variant"),
        *shown,
        *BASE_COLUMNS[4:],
        *metric_columns(metrics),
        *paired_columns(metrics),
    )
    text = caption(
        f"Cluster-CAM variants (clustering, features, score, cognition rule), {CI_NOTE}",
        PAIRED_NOTE.replace("Cluster-CAM", "the run's default Cluster-CAM", 1)
        + " (variants of separate sweep jobs are not paired)",
        "Variant: the method's name in a run, or a sweep job's varying overrides; the option "
        "columns are the variant's resolved config",
        runs_note(sources),
        *notes,
    )
    return Table(
        5,
        "table5_variants",
        "Cluster-CAM variants",
        text,
        columns,
        frame(rows, columns),
        ("model",),
        provenance_lines(sources),
    )


LOCALIZATION_METRICS = table_fields("localization")


def localization_table(runs: Sequence[Run]) -> Table:
    """Table 7: localisation against ground truth (boxes, or a grid's explained cell)."""
    runs = [run for run in runs if present(LOCALIZATION_METRICS, [run])]
    if not runs:
        raise NotAvailable("no run has localisation numbers (metrics.localization not configured)")
    metrics = present(LOCALIZATION_METRICS, runs)
    rows, notes = [], []
    for run in runs:
        tolerance = lookup(run.config, "metrics.localization.tolerance")
        run_rows, run_notes = method_rows(run, metrics, tolerance=tolerance)
        for row in run_rows:
            kept = stats.kept_rows(run.rows[run.rows["method"] == row["method"]])
            row["no_truth"] = int((kept["gt_boxes"].fillna(0) == 0).sum())
        rows += run_rows
        notes += run_notes
    columns = (
        *BASE_COLUMNS,
        Column("no_truth", "No GT", 0),
        Column("tolerance", "PG tol. (px)", 0),
        *metric_columns(metrics),
        *paired_columns(metrics),
    )
    text = caption(
        f"Localisation against ground truth (higher is better), {CI_NOTE}; No GT: kept images "
        "without a box of the explained class in the model's input, scored by no metric",
        PAIRED_NOTE,
        "Ground truth: the boxes of the explained class moved through the model's resize and "
        "centre crop (samples: the hand-drawn boxes), or the explained cell of a grid (gridpg). "
        "Energy PG: share of the map's positive part inside the ground truth; Pointing game: "
        "the map's maximum inside it or less than PG tol. pixels from it; Box IoU: IoU of the "
        "box of the largest connected component of {L >= 15% of max L} with the best-matching "
        "box, and the share with IoU >= 0.5; Relevance rank: share of the K highest pixels "
        "inside, K = the ground truth's area (docs/metrics.md, Localisation)",
        runs_note(runs),
        *notes,
    )
    return Table(
        7,
        "table7_localization",
        "Localisation",
        text,
        columns,
        frame(rows, columns),
        ("model", "data"),
        provenance_lines(runs),
    )


def build_tables(inputs: Inputs) -> tuple[list[Table], list[str]]:
    """Every table the inputs support, and a note for each one they do not."""
    builders = (
        ("Table 1", lambda: confidence_table(inputs.runs)),
        ("Table 2", lambda: causal_table(inputs.runs)),
        ("Table 3", lambda: cost_table(inputs.runs)),
        ("Table 4", lambda: k_table(inputs.k_jobs)),
        ("Table 5", lambda: variant_table(inputs.runs, inputs.variant_jobs)),
        ("Table 7", lambda: localization_table(inputs.runs)),
    )
    tables, notes = [], []
    for name, build in builders:
        try:
            tables.append(build())
        except NotAvailable as reason:
            notes.append(f"{name} skipped: {reason}")
    return tables, notes
