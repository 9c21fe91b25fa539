"""Paired statistics (clustercam/bench/stats.py) against scipy and against counts by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from clustercam.bench import stats
from clustercam.bench.columns import BY_NAME

INSERTION = BY_NAME["insertion_auc"]  # higher is better, span 1
DELETION = BY_NAME["deletion_auc"]  # lower is better
DROP = BY_NAME["drop_continuous"]  # percent, lower is better, span 100
INCREASE = BY_NAME["increase_continuous"]  # 0/1 flag, scaled to percent


def test_difference_interval_and_wilcoxon_match_scipy() -> None:
    method = np.array([0.50, 0.42, 0.61, 0.38, 0.55, 0.47, 0.70, 0.33])
    reference = np.array([0.45, 0.44, 0.52, 0.30, 0.55, 0.40, 0.58, 0.36])
    result = stats.paired(method, reference, INSERTION)
    differences = method - reference
    interval = scipy_stats.ttest_rel(method, reference).confidence_interval(0.95)
    assert result.n == 8
    assert result.mean == pytest.approx(differences.mean())
    assert result.ci95 == pytest.approx((interval.high - interval.low) / 2)
    expected_p = scipy_stats.wilcoxon(method, reference).pvalue
    assert result.p_value == pytest.approx(expected_p)
    # By hand: differences 0.05, -0.02, 0.09, 0.08, 0.00, 0.07, 0.12, -0.03; |d| <= 0.005 ties.
    assert (result.wins, result.ties, result.losses) == (5, 1, 2)
    assert result.record == "5/1/2"


def test_lower_is_better_turns_wins_around_and_ties_scale_with_the_range() -> None:
    method = np.array([0.10, 0.20, 0.30, 0.404])
    reference = np.array([0.20, 0.10, 0.30, 0.400])
    result = stats.paired(method, reference, DELETION)
    assert (result.wins, result.ties, result.losses) == (1, 2, 1)
    # Average Drop in percent: 0.4 points is a tie (0.005 of 100), 0.6 is not.
    drop = stats.paired(np.array([10.4, 10.6, 9.0]), np.array([10.0, 10.0, 10.0]), DROP)
    assert (drop.wins, drop.ties, drop.losses) == (1, 1, 1)
    # IC flags: scaled to percent, so the difference of two flags is -100, 0 or 100.
    flags = stats.paired(np.array([1, 0, 1, 0]), np.array([0, 0, 1, 1]), INCREASE)
    assert (flags.wins, flags.ties, flags.losses, flags.mean) == (1, 2, 1, 0.0)


def test_all_zero_differences_give_p_one_and_missing_values_are_left_out() -> None:
    values = np.array([0.3, 0.4, 0.5])
    same = stats.paired(values, values.copy(), INSERTION)
    assert (same.p_value, same.mean, same.ties) == (1.0, 0.0, 3)
    with_gaps = stats.paired(
        np.array([0.3, np.nan, 0.5, 0.9]), np.array([0.2, 0.4, np.inf, 0.7]), INSERTION
    )
    assert with_gaps.n == 2 and with_gaps.mean == pytest.approx(0.15)
    assert with_gaps.p_value == pytest.approx(scipy_stats.wilcoxon([0.1, 0.2]).pvalue)
    empty = stats.paired(np.array([np.nan]), np.array([0.1]), INSERTION)
    assert empty.n == 0 and math.isnan(empty.p_value) and math.isnan(empty.mean)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="same images"):
        stats.paired(np.zeros(3), np.zeros(4), INSERTION)
    with pytest.raises(ValueError, match="no better direction"):
        stats.paired(np.zeros(3), np.zeros(3), BY_NAME["explained_continuous"])
