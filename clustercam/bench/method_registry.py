"""The one method registry: configs/method/<config>.yaml, composed by Hydra (its defaults list
too, e.g. groupcam_kmeans on groupcam), then the options a caller states.

What the runner builds from `method=<config>` the scripts build here, so a script's list of
methods is names, configs and stated overrides, never a constructor call of its own whose class
defaults may move under it. An override must name an option the config states, so a misspelt
one fails instead of being ignored. `seed` and `chunk_size` are the run's, not the method's: in a
config they are interpolations of the run config, and here they take the caller's values.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch import nn

from clustercam.bench.build import instantiated
from clustercam.cam_method import CAMMethod

METHOD_DIR = Path(__file__).resolve().parents[2] / "configs" / "method"
RUN_KEYS = ("seed", "chunk_size")
# A method as a list states it: its config's name and the options it sets on that config.
Stated = tuple[str, Mapping[str, Any]]


@cache
def _composed(config: str, folder: Path) -> dict[str, Any]:
    """configs/method/<config>.yaml with its defaults list applied, interpolations unresolved."""
    if not (folder / f"{config}.yaml").is_file():
        known = ", ".join(sorted(path.stem for path in folder.glob("*.yaml")))
        raise ValueError(f"no method config {config!r} in {folder}; known: {known}")
    with initialize_config_dir(str(folder), version_base="1.3"):
        node = OmegaConf.to_container(compose(config), resolve=False)
    assert isinstance(node, dict)
    return node


def method_options(
    config: str,
    overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
    chunk_size: int = 16,
    folder: Path = METHOD_DIR,
) -> dict[str, Any]:
    """`_target_` and every option of configs/method/<config>.yaml after `overrides`, resolved;
    the run's `seed` and `chunk_size` fill the config's keys of those names (a method without
    them, e.g. Grad-CAM, takes neither). `name` is the config's, not an option: dropped."""
    node = _composed(config, folder)
    overrides = dict(overrides or {})
    unknown = [key for key in overrides if key not in node or key in (*RUN_KEYS, "name")]
    if unknown:
        options = ", ".join(key for key in node if key not in (*RUN_KEYS, "name", "_target_"))
        raise ValueError(
            f"configs/method/{config}.yaml has no option {', '.join(unknown)}; its options: "
            f"{options} (seed and chunk_size are the run's: pass them as such)"
        )
    run = {key: value for key, value in (("seed", seed), ("chunk_size", chunk_size)) if key in node}
    merged = OmegaConf.to_container(OmegaConf.create({**node, **run, **overrides}), resolve=True)
    assert isinstance(merged, dict)
    merged.pop("name", None)
    return {str(key): value for key, value in merged.items()}


def build_method(
    stated: Stated, model: nn.Module, target_layer: str, seed: int = 0, chunk_size: int = 16
) -> CAMMethod:
    """The method a list states as (config, overrides), on `model`."""
    config, overrides = stated
    options = method_options(config, overrides, seed, chunk_size)
    method = instantiated(options, model=model, target_layer=target_layer)
    assert isinstance(method, CAMMethod)
    return method
