"""clustercam/bench/candidates.py: the default's candidates are stated in full and stay distinct.

The first list named candidates by their difference from the class defaults; when the defaults
changed, four of its six became one method. These tests fail on that list.
"""

from __future__ import annotations

import inspect
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from omegaconf import OmegaConf
from toys import RegionModel

from clustercam import ClusterCAM
from clustercam.bench import candidates
from clustercam.bench.candidates import CANDIDATES, FIXED, VARIED
from clustercam.bench.method_registry import METHOD_DIR

ROOT = Path(__file__).resolve().parents[1]
# Every option of the class but the model, its layer and the chunk size (which no map depends on).
PARAMETERS = [
    p for p in inspect.signature(ClusterCAM.__init__).parameters
    if p not in ("self", "model", "target_layer", "chunk_size")
]  # fmt: skip
# A valid value other than the shipped default for every option, for the class and the YAML.
OTHER: dict[str, Any] = {
    "n_clusters": 3, "clustering": "kmeans_sklearn", "features": "raw", "score": "blur_gain",
    "cognition": "extremes", "lam": 0.5, "seed": 7, "n_init": 2, "init": "k-means++",
    "select": "consensus", "cluster_precision": "float64", "max_iter": 5, "tol": 0.1,
    "blur_kernel": 3, "blur_sigma": 1.0,
}  # fmt: skip


def what_shapes_the_map(method: ClusterCAM) -> dict[str, Any]:
    """The built method's options; n_init only with k-means++ (farthest seeding runs once)."""
    shaping = {p: getattr(method, p) for p in PARAMETERS}
    if shaping["init"] == "farthest":
        del shaping["n_init"]
    return shaping


def built(name: str) -> dict[str, Any]:
    return what_shapes_the_map(candidates.build(name, RegionModel(), "features", chunk_size=4))


def test_every_pair_of_candidates_builds_different_methods() -> None:
    methods = {name: built(name) for name in CANDIDATES}
    same = [(a, b) for a, b in combinations(methods, 2) if methods[a] == methods[b]]
    assert same == [], f"candidates that build the same method: {same}"
    assert len(CANDIDATES) == 12


def test_the_class_defaults_decide_no_candidate(monkeypatch) -> None:
    assert set(PARAMETERS) == set(OTHER)
    shipped = {name: built(name) for name in CANDIDATES}
    signature = inspect.signature(ClusterCAM.__init__)
    other = tuple(
        OTHER.get(name, p.default) for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    )  # fmt: skip
    monkeypatch.setattr(ClusterCAM.__init__, "__defaults__", other)
    assert {name: built(name) for name in CANDIDATES} == shipped


def test_the_method_config_decides_no_stated_option(tmp_path) -> None:
    """A YAML with every fixed and varied option changed gives every candidate the same options;
    the only ones the YAML alone sets are the blur's, which score=masked does not use."""
    shipped = METHOD_DIR / "clustercam.yaml"
    yaml = OmegaConf.to_container(OmegaConf.load(shipped), resolve=False)
    stated = {key: OTHER[key] for key in (*FIXED, *VARIED)}
    OmegaConf.save(OmegaConf.create({**yaml, **stated}), tmp_path / "clustercam.yaml")
    for name in CANDIDATES:
        assert candidates.options(name, tmp_path) == candidates.options(name)
    assert set(candidates.options("kpp4")) - set(FIXED) - set(VARIED) == {
        "blur_kernel", "blur_sigma"
    }  # fmt: skip
    assert FIXED["score"] == "masked"


def test_every_candidate_states_every_varied_option() -> None:
    assert all(tuple(options) == VARIED for options in CANDIDATES.values())
    assert not set(FIXED) & set(VARIED)
    for options in CANDIDATES.values():
        assert options["n_init"] == (4 if options["init"] == "k-means++" else 1)


def test_each_candidate_has_its_raw_features_twin() -> None:
    normalized = [name for name in CANDIDATES if not name.endswith("_raw")]
    assert normalized == ["kpp4", "farthest", "farthest64", "kpp4_baseline", "farthest_baseline",
                          "farthest_weighted"]  # fmt: skip
    for name in normalized:
        assert CANDIDATES[name]["features"] == "normalized"
        assert CANDIDATES[f"{name}_raw"] == {**CANDIDATES[name], "features": "raw"}


@pytest.mark.parametrize(
    "written_by", ["default_choice/candidates.csv", "table6_candidates.csv"]
)
def test_the_committed_candidates_csv_is_the_code_list(written_by: str) -> None:
    """So rerunning scripts/choose_default.py (or scripts/stability.py) measures the committed
    table's candidates, every option as recorded."""
    committed = pd.read_csv(ROOT / "results" / written_by)
    pd.testing.assert_frame_equal(committed, candidates.table(committed["name"]))


def test_the_docs_table_is_the_code_list() -> None:
    text = (ROOT / "docs" / "cluster-cam.md").read_text()
    section = text.split("**Candidates**")[1].split("**Data and metrics.**")[0]
    rows = [
        [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        for line in section.splitlines() if line.startswith("| `")
    ]  # fmt: skip
    assert rows == [[name, *map(str, options.values())] for name, options in CANDIDATES.items()]
