"""scripts/choose_default.py: the declared rule on hand-made per-image results."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import choose_default

IMAGES = [f"{i:02d}" for i in range(8)]


def frame(insertion: dict[str, float], models=("m1", "m2")) -> pd.DataFrame:
    """Per-image rows: every candidate equal on three metrics; insertion = base + a per-image
    wobble (the same for every candidate, so paired differences are exactly the offsets)."""
    wobble = np.linspace(0.0, 0.07, len(IMAGES))
    rows = []
    for model in models:
        for name, offset in insertion.items():
            for image, w in zip(IMAGES, wobble):
                rows.append({
                    "model": model, "candidate": name, "image_id": image, "target": 1,
                    "deletion_auc": 0.1 + w, "insertion_auc": 0.4 + w + offset * (1 + w),
                    "drop_continuous": 20.0 + w, "increase_continuous": 0.5,
                    "forward": 9.0, "seconds": 0.1,
                })  # fmt: skip
    return pd.DataFrame(rows)


def stability(seeds: dict[str, float]) -> pd.DataFrame:
    rows = [{"method": f"cc_{n}", "comparison": "seeds", "spearman_median": s}
            for n, s in seeds.items()]  # fmt: skip
    rows += [{"method": f"cc_{n}", "comparison": "noise", "spearman_median": 0.9} for n in seeds]
    return pd.DataFrame(rows)


def test_rule_keeps_the_stable_candidates_and_picks_the_most_wins() -> None:
    data = frame({"good": 0.05, "plain": 0.0, "unstable_best": 0.10})
    pairs = choose_default.comparisons(data)
    # 8 images, all differences of one sign: exact two-sided Wilcoxon p = 2 / 2**8.
    row = pairs.query("model == 'm1' and metric == 'insertion_auc' and candidate == 'good' "
                      "and other == 'plain'").iloc[0]  # fmt: skip
    assert row["sig_win"] and not row["sig_loss"] and abs(row["p"] - 2 / 256) < 1e-12
    table = choose_default.choose(
        data, pairs, stability({"good": 1.0, "plain": 1.0, "unstable_best": 0.5})
    ).set_index("candidate")
    assert list(table["passes_gate"]) == [True, True, False]
    assert table.loc["good", "chosen"] and not table["chosen"].drop("good").any()
    # On both models: `good` beats `plain` and loses to `unstable_best` (outside the gate, but a
    # loss all the same); `plain` loses to both, so `good` has the fewest losses in the gate.
    assert table.loc["good", ["sig_wins", "sig_losses"]].tolist() == [2, 2]
    assert table.loc["plain", ["sig_wins", "sig_losses"]].tolist() == [0, 4]


def test_without_stability_numbers_the_best_candidate_wins() -> None:
    data = frame({"good": 0.05, "plain": 0.0, "unstable_best": 0.10})
    table = choose_default.choose(data, choose_default.comparisons(data), None)
    assert table.set_index("candidate").loc["unstable_best", "chosen"]
