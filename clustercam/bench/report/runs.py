"""Run and sweep directories as the runner writes them, read into small typed objects.

One run directory holds `config.yaml` (the resolved Hydra config), `per_image.csv` (one row per
image x method), optionally `curves.jsonl`, `maps/<image_id>.npz` and `setup_cost.json` (work a
method does once per run, e.g. scoring a blank image) and `runtime.json` (where each start of the
run ran: versions, device, commit; older runs lack it). A sweep (Hydra multirun)
directory holds one run directory per job, each with `.hydra/overrides.yaml`. Missing config keys
and missing optional columns are tolerated: a report should say what it cannot show, not crash.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from clustercam.bench import sweeps
from clustercam.bench.columns import confidence_columns
from clustercam.bench.run_folder import (
    CONFIG,
    CURVES,
    MAPS,
    PER_IMAGE,
    SETUP,
    STARTS,
    read_per_image,
    read_runtime,
)
from clustercam.bench.zoo import RANDOM
from metrics import MODES

K_KEY = "n_clusters"
RANDOM_FLAG = f"(model.weights={RANDOM})"
NOT_RECORDED = "provenance not recorded (run predates it)"
SHORT_COMMIT = 7
# Cluster-CAM options that define a variant (docs/cluster-cam.md); other swept keys change the
# protocol.
VARIANT_KEYS: frozenset[str] = frozenset({"clustering", "features", "score", "cognition", "lam"})


def canonical(name: str) -> str:
    """Spelling-free key of a method or model name: `Grad-CAM++` and `gradcam_pp` both match."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower().replace("++", "pp"))


def is_cluster_cam(method: str) -> bool:
    """Cluster-CAM and its variants are named clustercam..., however the runner spells it."""
    return canonical(method).startswith("clustercam")


def lookup(config: dict[str, Any], dotted: str, default: Any = None) -> Any:
    """Value of a dotted key in a nested config, or `default` where any level is missing."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


@dataclass(frozen=True, eq=False)
class Run:
    """One run directory: its config, per-image rows and where its optional outputs are."""

    path: Path
    config: dict[str, Any]
    rows: pd.DataFrame
    overrides: dict[str, str] = field(default_factory=dict)
    setup_costs: dict[str, dict[str, float]] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def starts(self) -> list[dict[str, Any]]:
        """Where each start of the run ran (runtime.json), oldest first; [] for older runs."""
        return [start for start in self.runtime.get(STARTS) or [] if isinstance(start, dict)]

    def provenance(self) -> str:
        """One line under a table: what the first start ran on, then any other setting a resumed
        start ran on (its images' numbers came from there)."""
        described = list(dict.fromkeys(describe_start(start) for start in self.starts))
        if not described:
            return f"Run {self.name}: {NOT_RECORDED}"
        text = f"Run {self.name}: {described[0]}"
        if len(described) > 1:
            text += "; resumed under " + "; and under ".join(described[1:])
        elif len(self.starts) > 1:
            text += f" ({len(self.starts)} starts)"
        return text

    @property
    def random_weights(self) -> bool:
        """An untrained model (model.weights=random): its numbers say nothing about the trained
        network, so its name says so in every table and it never sits beside published rows."""
        return lookup(self.config, "model.weights") == RANDOM

    @property
    def model(self) -> str:
        name = str(lookup(self.config, "model.name", "unknown model"))
        return f"{name} {RANDOM_FLAG}" if self.random_weights else name

    @property
    def data(self) -> str:
        return str(lookup(self.config, "data.name", "unknown data"))

    @property
    def preset(self) -> str:
        """The metrics preset the run used (configs/metrics/<preset>.yaml)."""
        preset = lookup(self.config, "metrics.preset")
        return "unknown" if preset is None else str(preset)

    @property
    def step(self) -> int | None:
        step = lookup(self.config, "metrics.causal.step")
        return None if step is None else int(step)

    @property
    def method_configs(self) -> dict[str, dict[str, Any]]:
        """Options of `method` and of each `methods.<key>`, under the name the runner gives them
        (their `name`, else the key), so a method's settings can be shown beside its numbers."""
        entries = [("method", self.config.get("method"))]
        entries += list((self.config.get("methods") or {}).items())
        return {
            str(options.get("name") or key): options
            for key, options in entries
            if isinstance(options, dict)
        }

    @property
    def cluster_methods(self) -> list[str]:
        """Cluster-CAM and its variants: by `_target_` where the config says, else by name
        (variants may be named anything, e.g. cc_extremes, so the config comes first)."""
        configs = self.method_configs

        def cluster(method: str) -> bool:
            target = configs.get(method, {}).get("_target_")
            return is_cluster_cam(method) if target is None else str(target).endswith("ClusterCAM")

        return [method for method in self.methods if cluster(method)]

    @property
    def methods(self) -> list[str]:
        """Methods in the order the runner wrote them (that order is the tables' row order)."""
        return list(dict.fromkeys(self.rows["method"]))

    @property
    def n_images(self) -> int:
        return int(self.rows["image_id"].nunique())

    @property
    def curves_path(self) -> Path:
        return self.path / CURVES

    @property
    def maps_dir(self) -> Path:
        return self.path / MAPS

    def modes(self) -> list[str]:
        """Mask modes with at least one number; config may list modes that were never scored."""
        return [m for m in MODES if np.isfinite(self.rows[confidence_columns(m)["drop"]]).any()]

    def describe(self) -> str:
        """Protocol line for captions: model, data, images, causal preset and step."""
        step = "" if self.step is None else f", step {self.step}"
        return f"{self.model} on {self.data} ({self.n_images} images, preset {self.preset}{step})"


def describe_start(start: dict[str, Any]) -> str:
    """`torch 2.4.1, torchvision 0.19.1, timm 1.0.9, cpu (AMD EPYC), fp32, commit abc1234
    (dirty)` from one start of runtime.json; what it did not record is left out."""
    versions = start.get("versions") or {}
    parts = [f"{name} {version}" for name, version in versions.items() if version]
    if start.get("python"):
        parts.append(f"python {start['python']}")
    if start.get("device"):
        card = start.get("card")
        parts.append(f"{start['device']} ({card})" if card else str(start["device"]))
    if start.get("precision"):
        parts.append(str(start["precision"]))
    commit = start.get("commit")
    if commit:
        dirty = {True: " (dirty)", False: ""}.get(start.get("dirty"), " (dirty unknown)")
        parts.append(f"commit {str(commit)[:SHORT_COMMIT]}{dirty}")
    else:
        parts.append("no git commit")
    return ", ".join(parts)


@dataclass(frozen=True)
class Job:
    """A sweep job with the overrides that differ between the sweep's jobs (its coordinates)."""

    run: Run
    sweep: str
    varying: dict[str, str]

    @property
    def k(self) -> int | None:
        """K of a K sweep; None when n_clusters is not among the varying overrides."""
        for key, value in self.varying.items():
            if key.split(".")[-1] == K_KEY:
                return int(value)
        return None

    def setting(self, with_k: bool) -> str:
        """Short label of the job's varying overrides (last key component), K optional."""
        parts = [
            f"{key.split('.')[-1]}={value}"
            for key, value in self.varying.items()
            if with_k or key.split(".")[-1] != K_KEY
        ]
        return ", ".join(parts)


@dataclass
class Inputs:
    """What the command line gave, sorted by the tables that can use it."""

    runs: list[Run] = field(default_factory=list)
    k_jobs: list[Job] = field(default_factory=list)
    variant_jobs: list[Job] = field(default_factory=list)


def is_run_dir(path: Path) -> bool:
    return (path / PER_IMAGE).is_file()


def load_run(path: Path, job_overrides: dict[str, str] | None = None) -> Run:
    """Reads one run directory; absent numeric columns become NaN so every table can ask."""
    config_path = path / CONFIG
    if not config_path.is_file():
        config_path = path / ".hydra" / CONFIG
    config = yaml.safe_load(config_path.read_text()) if config_path.is_file() else {}
    rows = read_per_image(path)
    if job_overrides is None:
        job_overrides = sweeps.overrides(path)
    setup_path = path / SETUP
    setup_costs = json.loads(setup_path.read_text()) if setup_path.is_file() else {}
    return Run(path, config or {}, rows, job_overrides, setup_costs, read_runtime(path))


def varying_overrides(runs: Sequence[Run]) -> list[str]:
    """Override keys whose value is not the same in every job, in first-seen order."""
    keys = list(dict.fromkeys(key for run in runs for key in run.overrides))
    return [key for key in keys if len({run.overrides.get(key) for run in runs}) > 1]


def classify_sweep(path: Path, runs: list[Run], inputs: Inputs) -> str:
    """Files a sweep's jobs under the K table, the variant table, or plain runs; says which.

    A sweep over n_clusters feeds Table 4, one over Cluster-CAM options Table 5 (both when it varies
    both). A sweep over anything else (model, data, preset) is a set of separate plain runs.
    """
    varying = varying_overrides(runs)
    kinds = {key.split(".")[-1] for key in varying}
    jobs = [Job(run, path.name, {k: run.overrides.get(k, "") for k in varying}) for run in runs]
    found = []
    if K_KEY in kinds:
        inputs.k_jobs.extend(jobs)
        found.append("K sweep")
    if kinds & VARIANT_KEYS:
        inputs.variant_jobs.extend(jobs)
        found.append("variant sweep")
    if not found:
        inputs.runs.extend(runs)
        found.append("separate runs")
    return f"{path}: {len(runs)} jobs, varying {varying or 'nothing'} -> {' + '.join(found)}"


def discover(paths: Sequence[Path]) -> tuple[Inputs, list[str]]:
    """Loads every run and sweep given; returns them with one printable note per path."""
    inputs = Inputs()
    notes: list[str] = []
    for path in paths:
        if is_run_dir(path):
            inputs.runs.append(load_run(path))
            notes.append(f"{path}: run ({inputs.runs[-1].describe()})")
            continue
        found = (p for p in path.iterdir() if is_run_dir(p)) if path.is_dir() else []
        children = sorted(found, key=sweeps.job_number)
        if not children:
            notes.append(f"{path}: neither a run (no per_image.csv) nor a sweep of runs; ignored")
            continue
        notes.append(classify_sweep(path, [load_run(child) for child in children], inputs))
    return inputs, notes
