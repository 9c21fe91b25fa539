"""Every value of a run's config checked before anything is written (`python run.py` calls it).

Cheap on purpose: the model is built on the meta device (no weights, no memory) to learn its
target layer's shape, and every method is constructed on it with the run's options (constructors
only check them); the data set is listed but no image is read. A bad value raises ConfigError,
whose message says what is wrong and what to do. What `check` built (clustercam.bench.build.Setup)
is what the run goes on with, so nothing is built twice but the model, for real.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.utils import get_object
from omegaconf import DictConfig
from PIL import Image

from clustercam.bench import build
from clustercam.bench.build import Setup
from clustercam.bench.errors import ConfigError
from clustercam.bench.run_folder import check_resumable, check_unlocked
from clustercam.bench.selection import SELECTION_KEYS
from clustercam.bench.zoo import ZooModel
from clustercam.cam_method import resolve_layer

# Method options that count channel clusters of the target layer, so at most its channels.
CHANNEL_BOUNDED = ("n_clusters",)


@dataclass(frozen=True)
class Checked:
    """What `check` built and found: the run's Setup, and its model's name, target layer and the
    layer's output shape per image (None when the model does not run on the meta device)."""

    setup: Setup
    model: str
    layer: str
    shape: tuple[int, ...] | None

    def describe(self) -> str:
        """E.g. `vgg16, target layer features.29 (512x14x14), 22 images`."""
        shape = "x".join(map(str, self.shape or ())) or "shape unknown"
        images = len(self.setup.samples)
        return f"{self.model}, target layer {self.layer} ({shape}), {images} images"


def check(cfg: DictConfig, run_dir: Path) -> Checked:
    """Raises ConfigError for the first bad value of `cfg` for `run_dir`; returns what it built."""
    try:
        cfg = build.typed_config(cfg)
        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                "device=cuda, but torch finds no CUDA device here; use device=auto (cuda when "
                "available, else cpu) or device=cpu"
            )
        for path, node, extra, passed in _target_nodes(cfg):
            _check_keys(path, node, extra, passed)
        setup = build.setup(cfg)
        if not setup.samples:
            raise ConfigError(
                f"data {cfg.data.name!r} with these subset options (data.classes, "
                "data.per_class, data.n_images, data.shard_*) has no image; widen them"
            )
        zoo = build.meta_model(setup.cfg.model)
        shape = layer_shape(zoo)
        # Constructors check their options: one on the meta device costs nothing.
        build.build_methods(setup, build.counted_model(setup, zoo), zoo.target_layer)
    except ConfigError:
        raise
    except (ValueError, TypeError, FileNotFoundError) as error:
        raise ConfigError(_message(error)) from error
    if shape is not None:
        for name, options in setup.methods.items():
            for key in CHANNEL_BOUNDED:
                value = options.get(key)
                if isinstance(value, int) and value > shape[0]:
                    raise ConfigError(
                        f"{key}={value} of method {name!r} exceeds the {shape[0]} channels of "
                        f"{zoo.name}'s target layer {zoo.target_layer}; choose {key} <= {shape[0]}"
                    )
    check_resumable(run_dir, setup.config)
    check_unlocked(run_dir)
    return Checked(setup, zoo.name, zoo.target_layer, shape)


def load(checked: Checked) -> Setup:
    """The checked Setup with its model built for real (weights loaded, or downloaded where the
    zoo does so): the last step that may refuse the run before anything is written. Raises
    WeightsUnavailableError when the weights cannot be had, ConfigError for any other value the
    real model refuses."""
    try:
        return checked.setup.with_model()
    except ConfigError:
        raise
    except (ValueError, TypeError) as error:
        raise ConfigError(_message(error)) from error


def target_layer_shape(model: DictConfig) -> tuple[str, str, tuple[int, ...] | None]:
    """(model name, target layer, the layer's output shape per image) of the configured model,
    built on the meta device (build.meta_model): nothing is downloaded or allocated."""
    zoo = build.meta_model(model)
    return zoo.name, zoo.target_layer, layer_shape(zoo)


def layer_shape(zoo: ZooModel) -> tuple[int, ...] | None:
    """The output shape per image of the target layer of a model on the meta device; None when
    the model does not run there."""
    layer = resolve_layer(zoo.model, zoo.target_layer)  # a ValueError naming the modules
    shapes: list[tuple[int, ...]] = []
    hook = layer.register_forward_hook(lambda module, inputs, output: shapes.append(output.shape))
    try:  # a transform built on the meta device may not run (timm's holds meta tensors)
        size = zoo.transform(Image.new("RGB", (256, 256))).shape
        with torch.no_grad():
            zoo.model(torch.empty(1, *size, device="meta"))
    except (NotImplementedError, RuntimeError):
        return None
    finally:
        hook.remove()
    return tuple(shapes[0][1:]) if shapes else None


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
    yield "data", cfg.data, {"name", "boxes", *SELECTION_KEYS}, set()  # boxes: build.build_samples
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
        parameters = build.parameters(get_object(target))
    except (ImportError, AttributeError, ValueError) as error:
        raise ConfigError(f"{path}._target_={target} cannot be imported ({error})") from error
    if parameters is None:  # takes **kwargs: any key may be right
        return
    valid = (set(parameters) - passed) | extra
    for key in node:
        if str(key).startswith("_") or key in valid:
            continue
        raise unknown_key(f"{path}.{key}", valid, target)


def unknown_key(key: str, valid: Iterable[str], target: str | None = None) -> ConfigError:
    """The error for the unknown `key` (a dotted path) among the `valid` keys of its node, naming
    the closest valid one (by spelling, or by the symbol a method's own messages give an option,
    e.g. K for n_clusters) and listing them all."""
    parent, _, leaf = key.rpartition(".")
    valid = sorted(str(v) for v in valid)
    close = closest_key(leaf, valid, target)
    hint = f"did you mean {parent + '.' if parent else ''}{close}? " if close else ""
    takes = f" ({target} takes no {leaf!r})" if target else ""
    return ConfigError(f"unknown key {key}{takes}; {hint}valid keys: {', '.join(valid)}")


def closest_key(key: str, valid: Sequence[str], target: str | None = None) -> str | None:
    """The valid key `key` most likely means: the closest spelling, else the option whose symbol
    `key` is (`n_clusters (K)` in the target's source: K), else the same key in another case."""
    close = difflib.get_close_matches(key, valid, n=1)
    if close:
        return close[0]
    named = _symbols(target).get(key) if target else None
    if named in valid:
        return named
    return {v.lower(): v for v in valid}.get(key.lower())


# How the methods name an option in their messages, with its symbol: "n_clusters (K)".
_SYMBOL = re.compile(r"\b([a-z][a-z0-9_]*) \(([A-Za-z])\)")


def _symbols(target: str) -> dict[str, str]:
    """Symbol -> option, from the source of the target and its bases (empty where unreadable)."""
    try:
        found = get_object(target)
    except (ImportError, AttributeError, ValueError):
        return {}
    symbols: dict[str, str] = {}
    for part in getattr(found, "__mro__", (found,)):
        try:
            source = inspect.getsource(part)
        except (OSError, TypeError):  # builtins, or no source file
            continue
        for option, symbol in _SYMBOL.findall(source):
            symbols.setdefault(symbol, option)
    return symbols


def _message(error: BaseException) -> str:
    """The error's own text on one line."""
    return " ".join(str(error).split())
