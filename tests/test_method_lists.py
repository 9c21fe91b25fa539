"""The scripts' method lists (Table 6, the randomisation check) and the method registry.

A list states each method as its config (configs/method/) and the options it changes; the built
methods must differ pairwise, so that no two rows of a committed table measure one method under
two names (what happened when candidates were differences from moving class defaults).
"""

from __future__ import annotations

import importlib.util
from itertools import combinations
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from toys import RegionModel

from clustercam.bench.method_registry import build_method, method_options

ROOT = Path(__file__).resolve().parents[1]
PLAIN = (bool, int, float, str, type(None))


def script(name: str) -> ModuleType:
    """scripts/<name>.py as a module (its main() is not run)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shape(method: object) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """What the built method is: its class and every plain-valued attribute but the chunk size."""
    plain = {
        key: value for key, value in vars(method).items()
        if isinstance(value, PLAIN) and key != "chunk_size" and not key.startswith("_")
    }  # fmt: skip
    return type(method).__qualname__, tuple(sorted(plain.items()))


@pytest.mark.parametrize("name", ["stability", "sanity_randomization"])
def test_every_listed_method_is_a_different_method(name: str) -> None:
    module = script(name)
    made = module.makers("features", 4)
    assert set(module.STATED) <= set(made)
    built = {label: shape(make(RegionModel(), 0) if name == "stability" else make(RegionModel()))
             for label, make in made.items()}  # fmt: skip
    for (a, shape_a), (b, shape_b) in combinations(built.items(), 2):
        assert shape_a != shape_b, f"scripts/{name}.py: {a} and {b} build the same method"


def test_overrides_reach_the_method_and_the_rest_is_the_config() -> None:
    method = build_method(("rise", {"n_masks": 64}), RegionModel(), "features", seed=3)
    assert (method.n_masks, method.seed) == (64, 3)
    assert method.cells == method_options("rise")["cells"] == 7


def test_a_defaults_list_is_composed() -> None:
    """groupcam_kmeans is groupcam's config with one option changed."""
    plain, kmeans = method_options("groupcam"), method_options("groupcam_kmeans")
    assert {k for k in plain if plain[k] != kmeans[k]} == {"grouping"}


def test_a_misspelt_override_is_refused() -> None:
    with pytest.raises(ValueError, match="has no option n_mask; its options: n_masks"):
        method_options("rise", {"n_mask": 64})


def test_an_unknown_config_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no method config 'risee'.*known: .*rise"):
        method_options("risee")
