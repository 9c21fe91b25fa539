"""The statistics every summary, table and figure prints: a mean with its 95% t interval.

A t interval (not a normal one) because runs are small: 22 bundled photos is the default setting.
Paired comparisons of two methods on the same images belong here too, beside `mean_ci`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from clustercam.bench.columns import Field

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


def kept_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows a method scored: `skipped` empty (an unreadable image or an invalid map is not)."""
    return rows[rows["skipped"] == ""]


def summarize(
    rows: pd.DataFrame, fields: Iterable[Field]
) -> tuple[dict[str, tuple[float, float, int]], list[str]]:
    """`mean_ci` of each field (scaled to its unit) over one method's kept rows, by field name.

    Also returns a note for each field with fewer values than kept rows (e.g. a metric that was
    switched off part-way, or NaN scores), so that no gap goes unmentioned.
    """
    kept = kept_rows(rows)
    summary, notes = {}, []
    for field in fields:
        mean, half, n = mean_ci(kept[field.name] * field.scale)
        summary[field.name] = (mean, half, n)
        if 0 < n < len(kept):
            notes.append(f"{field.label or field.name}: {n} of {len(kept)} images have a value")
    return summary, notes
