"""The per-image columns of `per_image.csv` and how each is summarised, declared once.

Everything downstream reads this table: the records (header, types, timing columns), the run's
summary.csv, the report's tables and figures. Adding a per-image column is one `Field` line here
(plus the code that fills it in the experiment loop); give it a `key` and a `table` and the report
prints it too. Definitions of the metrics: docs/metrics.md.

A field with a `group` is a column only in runs whose `metrics` config turns that group on
(configs/metrics/full.yaml): the default run's columns are the fields without one (`COLUMNS`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from metrics import MODES

# id, text: read as strings; class: nullable integer; number: not summarised (e.g. p_c(x));
# metric: summarised; timing: summarised, and the one kind that differs between identical runs.
Kind = Literal["id", "text", "class", "number", "metric", "timing"]
Better = Literal["lower", "higher"]
TableName = Literal["confidence", "causal", "cost", "localization", "full", "metric_cost"]
# Keys of the `metrics` config that add columns when set (not null): configs/metrics/full.yaml.
Group = Literal["complexity", "gain", "adcc", "sensitivity", "road", "metric_costs"]
GROUPS: tuple[Group, ...] = ("complexity", "gain", "adcc", "sensitivity", "road", "metric_costs")
# Metrics whose own cost a `metric_costs` run records per image (`<metric>_seconds`, `_forward`).
COSTED_METRICS = (
    "confidence", "deletion", "insertion", "complexity", "adcc", "sensitivity", "road"
)  # fmt: skip


@dataclass(frozen=True)
class Field:
    """One per-image column; a summarised one also says how the summaries name and print it.

    summary: the name in summary.csv (`<summary>_mean`, `<summary>_ci95`), default `name`.
    key: the report tables' column (`<key>`, `<key>_ci95`); None keeps it out of the tables.
    scale: per-image value -> summarised unit (Increase in Confidence: a 0/1 flag -> percent).
    table: the report table that shows it (cost columns: Table 3).
    span: the width of the metric's possible range in its summarised unit (AUC 1, AD and IC 100);
        paired comparisons call differences within a fixed fraction of it ties (bench/stats.py).
    group: the `metrics` config key that adds the column (None: every run has it).
    """

    name: str
    kind: Kind
    key: str | None = None
    label: str = ""
    decimals: int = 4
    better: Better | None = None
    table: TableName | None = None
    scale: float = 1.0
    summary: str = ""
    span: float = 1.0
    group: Group | None = None

    @property
    def summary_name(self) -> str:
        return self.summary or self.name

    @property
    def summarised(self) -> bool:
        return self.kind in ("metric", "timing")


MODE_LABELS: dict[str, str] = {"continuous": "cont.", "top50": "top-50%"}


def _confidence_fields(mode: str) -> tuple[Field, ...]:
    label = MODE_LABELS[mode]
    return (
        Field(f"drop_{mode}", "metric", f"ad_{mode}", f"AD {label} (%)", 2, "lower",
              "confidence", summary=f"average_drop_{mode}", span=100.0),
        Field(f"increase_{mode}", "metric", f"ic_{mode}", f"IC {label} (%)", 2, "higher",
              "confidence", 100.0, summary=f"increase_in_confidence_{mode}", span=100.0),
        Field(f"explained_{mode}", "metric"),
    )  # fmt: skip


# Localisation against ground truth (clustercam/bench/localize.py); gt_boxes: boxes of the
# explained class in the model's input (0: none left, no ground truth; empty: the data set has
# none), so that images without ground truth are counted, not dropped silently.
LOCALIZATION_FIELDS: tuple[Field, ...] = (
    Field("energy_pg", "metric", "energy_pg", "Energy PG", 4, "higher", "localization"),
    Field("pointing_game", "metric", "pointing", "Pointing game (%)", 1, "higher", "localization",
          100.0, span=100.0),
    Field("box_iou", "metric", "box_iou", "Box IoU", 4, "higher", "localization"),
    Field("box_correct", "metric", "box_correct", "Box IoU>=0.5 (%)", 1, "higher", "localization",
          100.0, span=100.0),
    Field("relevance_rank", "metric", "relevance_rank", "Relevance rank", 4, "higher",
          "localization"),
    Field("gt_boxes", "number"),
)  # fmt: skip
# metrics.localization.metrics entry -> the per-image columns it fills.
LOCALIZATION_COLUMNS: dict[str, tuple[str, ...]] = {
    "energy": ("energy_pg",),
    "pointing": ("pointing_game",),
    "box": ("box_iou", "box_correct"),
    "rank": ("relevance_rank",),
}
GT_BOXES = "gt_boxes"


def _metric_cost_fields(metric: str) -> tuple[Field, ...]:
    """One metric's forward passes (its own and the method calls it makes) and seconds."""
    label = metric.capitalize()
    return (
        Field(f"{metric}_forward", "metric", f"{metric}_forward", f"{label} forward", 1, "lower",
              "metric_cost", group="metric_costs"),
        Field(f"{metric}_seconds", "timing", f"{metric}_seconds", f"{label} s", 3, "lower",
              "metric_cost", group="metric_costs"),
    )  # fmt: skip


FIELDS: tuple[Field, ...] = (
    Field("image_id", "id"),
    Field("path", "text"),
    Field("label", "class"),
    Field("target", "class"),
    Field("target_name", "text"),
    Field("probability", "number"),
    Field("method", "text"),
    *(field for mode in MODES for field in _confidence_fields(mode)),
    Field("deletion_auc", "metric", "deletion", "Deletion AUC", 4, "lower", "causal"),
    Field("insertion_auc", "metric", "insertion", "Insertion AUC", 4, "higher", "causal"),
    Field("forward", "metric", "forward", "Forward", 1, "lower", "cost"),
    Field("backward", "metric", "backward", "Backward", 1, "lower", "cost"),
    Field("tail", "metric", "tail", "Tail", 1, "lower", "cost"),
    Field("seconds", "timing", "seconds", "Seconds", 3, "lower", "cost"),
    Field("metric_forward", "metric", "metric_forward", "Metric forward", 1, "lower", "cost"),
    Field("metric_seconds", "timing", "metric_seconds", "Metric seconds", 3, "lower", "cost"),
    *LOCALIZATION_FIELDS,
    Field("sparseness", "metric", "sparseness", "Sparseness (Gini)", 4, "higher", "full",
          group="complexity"),
    Field("complexity", "metric", "complexity", "Complexity (entropy)", 3, "lower", "full",
          span=math.log(224 * 224), group="complexity"),  # its largest value on 224 x 224 maps
    Field("gain", "metric", "gain", "Average Gain (%)", 2, "higher", "full", span=100.0,
          group="gain"),
    Field("adcc", "metric", "adcc", "ADCC", 4, "higher", "full", group="adcc"),
    Field("coherency", "metric", "coherency", "Coherency", 4, "higher", "full", group="adcc"),
    Field("adcc_complexity", "metric", "adcc_complexity", "ADCC complexity", 4, "lower", "full",
          group="adcc"),
    Field("max_sensitivity", "metric", "max_sensitivity", "Max-Sensitivity", 4, "lower", "full",
          group="sensitivity"),
    Field("road_morf", "metric", "road_morf", "ROAD MoRF", 4, "lower", "full", group="road"),
    Field("road_lerf", "metric", "road_lerf", "ROAD LeRF", 4, "higher", "full", group="road"),
    Field("road_combined", "metric", "road_combined", "ROAD combined", 4, "higher", "full",
          group="road"),
    *(field for metric in COSTED_METRICS for field in _metric_cost_fields(metric)),
    Field("road_imputation_seconds", "timing", "road_imputation_seconds",
          "ROAD imputation s", 3, "lower", "metric_cost", group="metric_costs"),
    Field("skipped", "text"),
)

BY_NAME: dict[str, Field] = {field.name: field for field in FIELDS}


def enabled_groups(metrics_config: Mapping[str, Any]) -> tuple[Group, ...]:
    """The groups a run's `metrics` config turns on: those of its keys that are set."""
    return tuple(g for g in GROUPS if metrics_config.get(g) not in (None, False))


def run_columns(groups: Iterable[str] = ()) -> tuple[str, ...]:
    """per_image.csv's columns in a run with these groups on, in schema order."""
    on = set(groups)
    return tuple(f.name for f in FIELDS if f.group is None or f.group in on)


COLUMNS: tuple[str, ...] = run_columns()  # a default run's (metrics=fast)
ALL_COLUMNS: tuple[str, ...] = tuple(field.name for field in FIELDS)
TIMING_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind == "timing")
SUMMARISED: tuple[Field, ...] = tuple(f for f in FIELDS if f.summarised)
NUMERIC_COLUMNS: tuple[str, ...] = tuple(f.name for f in SUMMARISED)
# pandas dtypes of the columns that must not be read as floats.
READ_TYPES: dict[str, str | type] = {
    **{f.name: str for f in FIELDS if f.kind in ("id", "text")},
    **{f.name: "Int64" for f in FIELDS if f.kind == "class"},
}


def auc_column(kind: str) -> str:
    """The per-image AUC column of a deletion or insertion curve."""
    return f"{kind}_auc"


def confidence_columns(mode: str) -> dict[str, str]:
    """Result attribute of metrics.confidence -> per-image column, for one mask mode."""
    return {quantity: f"{quantity}_{mode}" for quantity in ("drop", "increase", "explained")}


def table_fields(table: TableName, modes: tuple[str, ...] = MODES) -> tuple[Field, ...]:
    """The fields a report table shows, in schema order; confidence ones of `modes` only."""
    chosen = [f for f in SUMMARISED if f.table == table]
    if table == "confidence":
        chosen = [f for f in chosen if f.name.rsplit("_", 1)[-1] in modes]
    return tuple(chosen)
