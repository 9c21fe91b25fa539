"""Means with 95% t-interval half-widths, the only statistic the tables print.

A t interval (not a normal one) because runs are small: 22 bundled photos is the default setting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95


def mean_ci(values: Sequence[float] | np.ndarray | pd.Series) -> tuple[float, float, int]:
    """(mean, half-width of the 95% t interval, n) over the finite values.

    The half-width is NaN for n < 2 (no spread to estimate) and the mean NaN for n = 0.
    """
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    n = len(finite)
    if n == 0:
        return math.nan, math.nan, 0
    mean = float(finite.mean())
    if n < 2:
        return mean, math.nan, n
    quantile = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)
    return mean, float(quantile * finite.std(ddof=1) / math.sqrt(n)), n


@dataclass(frozen=True)
class Metric:
    """A per-image column summarised into a table column `key` (and `key_ci95`).

    `scale` turns 0/1 increase flags into percent; `decimals` is the printed precision.
    """

    key: str
    source: str
    label: str
    decimals: int
    scale: float = 1.0


def summarize(rows: pd.DataFrame, metrics: Sequence[Metric]) -> tuple[dict[str, float], list[str]]:
    """Mean and CI of each metric over one method's non-skipped rows, plus N and skipped.

    Returns the numbers and notes for metrics with fewer finite values than N (e.g. invalid maps
    that the runner scored as NaN without marking them skipped), so no gap goes unmentioned.
    """
    skipped = rows["skipped"] != ""
    kept = rows[~skipped]
    summary: dict[str, float] = {"n": len(kept), "skipped": int(skipped.sum())}
    notes: list[str] = []
    for metric in metrics:
        mean, half, n = mean_ci(kept[metric.source] * metric.scale)
        summary[metric.key] = mean
        summary[f"{metric.key}_ci95"] = half
        if 0 < n < len(kept):
            notes.append(f"{metric.label}: {n} of {len(kept)} images have a value")
    return summary, notes
