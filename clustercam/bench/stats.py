"""The statistics every summary, table and figure prints: a mean with its 95% t interval, and the
paired comparison of a method with a reference method over the same images.

A t interval (not a normal one) because runs are small: 22 bundled photos is the default setting.
Paired statistics because unpaired intervals of two methods over the same 22 photos overlap even
when one method beats the other on nearly every photo: the per-image difference removes the
photo-to-photo variation both methods share.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from clustercam.bench.columns import Field

CONFIDENCE = 0.95
# Two methods tie on an image when their values differ by at most this fraction of the metric's
# range (Field.span): 0.005 AUC, 0.5 points of AD; IC is a 0/1 flag per image, so only equal ties.
TIE_FRACTION = 0.005


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


def summarize_fields(
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


@dataclass(frozen=True)
class Paired:
    """A method against a reference over the images both scored: difference = method - reference.

    mean, ci95: the mean difference and the half-width of its 95% t interval; p_value: two-sided
    Wilcoxon signed-rank test (1.0 when every difference is zero, NaN without images); wins, ties,
    losses: images where the method is better, within the tie tolerance, or worse, by the
    metric's own direction.
    """

    n: int
    mean: float
    ci95: float
    p_value: float
    wins: int
    ties: int
    losses: int

    @property
    def record(self) -> str:
        return f"{self.wins}/{self.ties}/{self.losses}"


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value; zero differences are dropped (scipy's 'wilcox'),
    so all-zero differences give 1.0 (no evidence of any difference) rather than an error."""
    differences = np.asarray(differences, dtype=float)
    if len(differences) == 0:
        return math.nan
    if not np.any(differences != 0):
        return 1.0
    return float(stats.wilcoxon(differences, zero_method="wilcox").pvalue)


def paired(
    method: Sequence[float] | np.ndarray | pd.Series,
    reference: Sequence[float] | np.ndarray | pd.Series,
    field: Field,
) -> Paired:
    """Paired comparison of per-image values (same order, same images), in the field's unit.

    Images where either value is missing or not finite are left out of every number.
    """
    method = np.asarray(method, dtype=float) * field.scale
    reference = np.asarray(reference, dtype=float) * field.scale
    if method.shape != reference.shape:
        raise ValueError(f"paired values need the same images: {method.shape} vs {reference.shape}")
    if field.better is None:
        raise ValueError(f"{field.name} has no better direction; it cannot be won or lost")
    both = np.isfinite(method) & np.isfinite(reference)
    differences = method[both] - reference[both]
    mean, half, n = mean_ci(differences)
    tolerance = TIE_FRACTION * field.span
    gains = differences if field.better == "higher" else -differences
    wins, losses = int((gains > tolerance).sum()), int((gains < -tolerance).sum())
    return Paired(n, mean, half, wilcoxon_p(differences), wins, n - wins - losses, losses)


def paired_by_image(
    rows: pd.DataFrame, method: str, reference: str, field: Field
) -> Paired:
    """`paired` of two methods' kept rows (per_image.csv layout), matched by image_id."""
    kept = kept_rows(rows)
    wide = kept.pivot_table(index="image_id", columns="method", values=field.name, dropna=False)
    if method not in wide or reference not in wide:
        return Paired(0, math.nan, math.nan, math.nan, 0, 0, 0)
    return paired(wide[method].to_numpy(), wide[reference].to_numpy(), field)
