"""The Cluster-CAM candidates for the default (docs/cluster-cam.md, "How the default is chosen").

Every candidate states every option it varies, and the options held fixed are stated too: the
first list named each candidate by its difference from the class defaults, so when the defaults
moved to `init=farthest, cognition=baseline` four of its six candidates became one method without
any line of it changing. A candidate's options are the method config
(configs/method/clustercam.yaml, through clustercam.bench.method_registry) overridden by FIXED and
then by its own, so neither the YAML's nor the class's defaults can decide what a candidate is.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from clustercam import ClusterCAM
from clustercam.bench.method_registry import METHOD_DIR, build_method, method_options

# Keys of the resolved method config that are not options of a candidate: the Hydra target and the
# run's chunk size (which does not change a map).
NOT_OPTIONS = ("_target_", "chunk_size")

FIXED: dict[str, Any] = {
    "n_clusters": 8, "clustering": "kmeans", "score": "masked", "lam": 1.0, "select": "inertia",
    "seed": 0, "max_iter": 300, "tol": 1e-4,
}  # fmt: skip
VARIED = ("init", "n_init", "cluster_precision", "features", "cognition")
# n_init: k-means++ keeps the least-inertia run of 4 seeded restarts; farthest seeding is
# deterministic and runs once whatever n_init says, so its candidates state 1, what runs.
# `<name>_raw` is `<name>` clustering the channels' raw maps instead of their min-max scaled ones.
# fmt: off
_ROWS: dict[str, tuple[str, int, str, str, str]] = {
    #                         init         n_init  cluster_precision  features      cognition
    "kpp4":                  ("k-means++", 4,      "float32",         "normalized", "centered"),
    "farthest":              ("farthest",  1,      "float32",         "normalized", "centered"),
    "farthest64":            ("farthest",  1,      "float64",         "normalized", "centered"),
    "kpp4_baseline":         ("k-means++", 4,      "float32",         "normalized", "baseline"),
    "farthest_baseline":     ("farthest",  1,      "float32",         "normalized", "baseline"),
    "farthest_weighted":     ("farthest",  1,      "float32",         "normalized", "weighted"),
    "kpp4_raw":              ("k-means++", 4,      "float32",         "raw",        "centered"),
    "farthest_raw":          ("farthest",  1,      "float32",         "raw",        "centered"),
    "farthest64_raw":        ("farthest",  1,      "float64",         "raw",        "centered"),
    "kpp4_baseline_raw":     ("k-means++", 4,      "float32",         "raw",        "baseline"),
    "farthest_baseline_raw": ("farthest",  1,      "float32",         "raw",        "baseline"),
    "farthest_weighted_raw": ("farthest",  1,      "float32",         "raw",        "weighted"),
}
# fmt: on
CANDIDATES: dict[str, dict[str, Any]] = {
    name: dict(zip(VARIED, row, strict=True)) for name, row in _ROWS.items()
}


def stated(name: str) -> tuple[str, dict[str, Any]]:
    """The candidate as the method registry takes it: its config and every option it states
    (FIXED's seed aside: the run's, given to `build`)."""
    chosen = {**CANDIDATES[name], **FIXED}
    del chosen["seed"]
    return "clustercam", chosen


def options(name: str, folder: Path = METHOD_DIR) -> dict[str, Any]:
    """Every option the candidate's ClusterCAM gets: its own, then FIXED, then what only the
    method config sets (e.g. the blur of `score=blur_gain`, which FIXED does not use)."""
    config, chosen = stated(name)
    resolved = method_options(config, chosen, seed=FIXED["seed"], folder=folder)
    rest = {k: v for k, v in resolved.items() if k not in FIXED and k not in VARIED}
    return {**CANDIDATES[name], **FIXED, **{k: v for k, v in rest.items() if k not in NOT_OPTIONS}}


def build(
    name: str, model: nn.Module, target_layer: str, chunk_size: int, seed: int | None = None
) -> ClusterCAM:
    """The candidate's method; `seed` replaces the fixed seed 0 for runs that vary it (Table 6)."""
    seed = FIXED["seed"] if seed is None else seed
    method = build_method(stated(name), model, target_layer, seed, chunk_size)
    assert isinstance(method, ClusterCAM)
    return method


def table(names: Iterable[str] = CANDIDATES) -> pd.DataFrame:
    """One row per candidate: its name, then every option, so a result names what it measured."""
    return pd.DataFrame([{"name": name, **options(name)} for name in names])


def write_table(path: Path, names: Iterable[str] = CANDIDATES) -> None:
    """The candidates' options as CSV next to the results measured with them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table(names).to_csv(path, index=False)
