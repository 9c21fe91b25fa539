"""Every value of a run's config checked before anything is written (`python run.py` calls it).

Cheap on purpose: the model is built on the meta device (no weights, no memory) to learn its
target layer's shape, the data set is listed but no image is read. A bad value raises
ConfigError, whose message says what is wrong and what to do.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from clustercam.bench.devices import resolve_plan
from clustercam.bench.experiment import build_metrics, build_samples, method_configs, typed_config
from clustercam.bench.records import check_resumable, check_unlocked
from clustercam.bench.schema import ConfigError
from clustercam.bench.selection import SELECTION_KEYS

# Method options that count channel clusters of the target layer, so at most its channels.
CHANNEL_BOUNDED = ("n_clusters",)


def check(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Raises ConfigError for the first bad value of `cfg` for `run_dir`; returns what it found
    (the device, the model's name, its target layer's shape, the number of images) for the log."""
    try:
        cfg = typed_config(cfg)
        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                "device=cuda, but torch finds no CUDA device here; use device=auto (cuda when "
                "available, else cpu) or device=cpu"
            )
        for path, node, extra, passed in _target_nodes(cfg):
            _check_keys(path, node, extra, passed)
        plan = resolve_plan(cfg.device, cfg.batch_size, cfg.chunk_size, cfg.num_workers)
        configs = method_configs(cfg)
        build_metrics(cfg.metrics, plan.chunk_size)
        samples = build_samples(cfg.data)
        if not samples:
            raise ConfigError(
                f"data {cfg.data.name!r} with these subset options (data.classes, "
                "data.per_class, data.n_images, data.shard_*) has no image; widen them"
            )
        model_name, layer, shape = target_layer_shape(cfg.model)
    except ConfigError:
        raise
    except (ValueError, TypeError, FileNotFoundError, InstantiationException) as error:
        raise ConfigError(_message(error)) from error
    if shape is not None:
        for name, options in configs.items():
            for key in CHANNEL_BOUNDED:
                value = options.get(key)
                if isinstance(value, int) and value > shape[0]:
                    raise ConfigError(
                        f"{key}={value} of method {name!r} exceeds the {shape[0]} channels of "
                        f"{model_name}'s target layer {layer}; choose {key} <= {shape[0]}"
                    )
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    check_resumable(run_dir, config)
    check_unlocked(run_dir)
    return {"model": model_name, "layer": layer, "shape": shape, "images": len(samples)}


def target_layer_shape(model: DictConfig) -> tuple[str, str, tuple[int, ...] | None]:
    """(model name, target layer, the layer's output shape per image) of the configured model.

    Built on the meta device with random weights: nothing is downloaded or allocated. The shape
    is None when the model does not run on the meta device.
    """
    options = OmegaConf.to_container(model, resolve=True)
    if "weights" in (_parameters(get_object(options["_target_"])) or ()):
        options["weights"] = "random"
    with torch.device("meta"):
        zoo = instantiate(options, device="meta")
    layer = zoo.model.get_submodule(zoo.target_layer)
    shapes: list[tuple[int, ...]] = []
    hook = layer.register_forward_hook(lambda module, inputs, output: shapes.append(output.shape))
    try:  # a transform built on the meta device may not run (timm's holds meta tensors)
        size = zoo.transform(Image.new("RGB", (256, 256))).shape
        with torch.no_grad():
            zoo.model(torch.empty(1, *size, device="meta"))
    except (NotImplementedError, RuntimeError):
        return zoo.name, zoo.target_layer, None
    finally:
        hook.remove()
    return zoo.name, zoo.target_layer, tuple(shapes[0][1:]) if shapes else None


def _target_nodes(
    cfg: DictConfig,
) -> Iterator[tuple[str, DictConfig, set[str], set[str]]]:
    """(path, node, keys the loop reads itself, arguments the loop passes itself) of every
    config node built from a `_target_`."""
    method = ({"name"}, {"model", "target_layer"})
    yield "method", cfg.method, *method
    for key, node in cfg.methods.items():
        yield f"methods.{key}", node, *method
    yield "model", cfg.model, set(), {"device"}
    yield "data", cfg.data, {"name", *SELECTION_KEYS}, set()
    for kind in ("deletion", "insertion"):
        node = cfg.metrics.get(kind)
        if node is not None:
            yield f"metrics.{kind}", node, set(), set()


def _check_keys(path: str, node: DictConfig, extra: set[str], passed: set[str]) -> None:
    """Refuses a key its `_target_` does not take (e.g. a misspelled `+method.n_cluster=4`)."""
    target = node.get("_target_")
    if target is None:
        return
    try:
        parameters = _parameters(get_object(target))
    except (ImportError, AttributeError, ValueError) as error:
        raise ConfigError(f"{path}._target_={target} cannot be imported ({error})") from error
    if parameters is None:  # takes **kwargs: any key may be right
        return
    valid = (set(parameters) - passed) | extra
    for key in node:
        if str(key).startswith("_") or key in valid:
            continue
        close = difflib.get_close_matches(str(key), sorted(valid), n=1)
        hint = f"did you mean {path}.{close[0]}? " if close else ""
        raise ConfigError(
            f"unknown key {path}.{key} ({target} takes no {key!r}); {hint}"
            f"valid keys: {', '.join(sorted(valid))}"
        )


def _parameters(target: Any) -> list[str] | None:
    """The keyword parameters of a callable; None when it takes **kwargs."""
    parameters = inspect.signature(target).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL]


def _message(error: BaseException) -> str:
    """The error's own text, without the wrapper hydra.utils.instantiate puts around it."""
    cause = error.__cause__ if isinstance(error, InstantiationException) else None
    return " ".join(str(cause or error).split())
