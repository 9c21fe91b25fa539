"""Config -> what a run is made of: the typed config, the device plan, the methods' options and
the methods, the metrics, the samples and the model. The one place they are built from a config.

`python run.py` builds once: clustercam.bench.validate.check builds a Setup (and every method, on
the model built on the meta device) before anything is written, and the experiment loop
(clustercam.bench.experiment) goes on from that Setup; clustercam.bench.merge rebuilds a stored
run's methods and samples from here too. Errors are the targets' own: Hydra's
InstantiationException is taken off (`instantiated`), so a constructor's ValueError, or the zoo's
WeightsUnavailableError, arrives as itself.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from clustercam.bench.boxes import with_boxes
from clustercam.bench.data import Sample
from clustercam.bench.devices import Plan, resolve_plan
from clustercam.bench.errors import ConfigError
from clustercam.bench.localize import Localization
from clustercam.bench.schema import RunConfig
from clustercam.bench.selection import SELECTION_KEYS, Selection
from clustercam.bench.zoo import PRETRAINED, RANDOM, ZooModel
from clustercam.cam_method import CAMMethod
from clustercam.cost import CostCounter, counted
from metrics import MODES, CausalMetric, ROADResult, SensitivityResult


@dataclass
class Metrics:
    """The configured metrics; a None causal metric or an empty mode list is not computed, nor
    are the metrics of configs/metrics/full.yaml left False or None (its comments say what each
    one costs). `sensitivity` and `road` are metrics.max_sensitivity and metrics.road with their
    configured options bound."""

    confidence_modes: tuple[str, ...]
    deletion: CausalMetric | None
    insertion: CausalMetric | None
    chunk_size: int
    localization: Localization
    complexity: bool = False
    gain: bool = False
    adcc: bool = False
    sensitivity: Callable[..., SensitivityResult] | None = None
    road: Callable[..., ROADResult] | None = None
    metric_costs: bool = False


@dataclass(frozen=True)
class Setup:
    """Everything a run is built from but its model, from its config (`setup`).

    cfg: the config typed by the run schema, its `auto` sizes replaced by the plan's.
    config: cfg resolved to plain values, as the run folder's config.yaml stores it.
    methods: each method's constructor options by its name; `paths` says where each was set
        (`method`, `methods.<key>`).
    zoo: the model, once built for real (`with_model`); None until then.
    """

    cfg: DictConfig
    config: dict[str, Any]
    plan: Plan
    methods: dict[str, dict[str, Any]]
    paths: dict[str, str]
    metrics: Metrics
    samples: list[Sample]
    zoo: ZooModel | None = None

    def with_model(self) -> Setup:
        """This Setup with its model built on the plan's device (weights loaded, or downloaded
        where the zoo does so); raises the zoo's WeightsUnavailableError when they cannot be."""
        return dataclasses.replace(self, zoo=build_model(self))


def setup(cfg: DictConfig) -> Setup:
    """The Setup of `cfg`; raises ValueError (or FileNotFoundError for a missing data set) for a
    value that cannot run, with the target's own message."""
    cfg = typed_config(cfg)
    plan = resolve_plan(cfg.device, cfg.batch_size, cfg.chunk_size, cfg.num_workers)
    # The resolved sizes, so that methods' `${chunk_size}` and the stored config hold them.
    cfg.batch_size, cfg.chunk_size, cfg.num_workers = (
        plan.batch_size,
        plan.chunk_size,
        plan.num_workers,
    )
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    assert isinstance(config, dict)
    entries = method_entries(cfg)
    return Setup(
        cfg=cfg,
        config=config,
        plan=plan,
        methods={name: options for _, name, options in entries},
        paths={name: path for path, name, _ in entries},
        metrics=build_metrics(cfg.metrics, plan.chunk_size),
        samples=build_samples(cfg.data),
    )


def typed_config(cfg: DictConfig) -> DictConfig:
    """`cfg` typed by the run schema: Hydra did so already, a config built in Python may not.
    Ranges, which the schema cannot state, are checked where sizes are resolved (devices.py)."""
    return OmegaConf.merge(OmegaConf.structured(RunConfig), cfg)


def method_entries(cfg: DictConfig) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, name, options) of `method` then every entry of `methods`; `name` itself is not an
    argument. Two different methods of one name are refused."""
    entries = [("method", cfg.method)] + [(f"methods.{k}", v) for k, v in cfg.methods.items()]
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for path, node in entries:
        options = OmegaConf.to_container(node, resolve=True)
        assert isinstance(options, dict)
        name = options.pop("name", None) or path.rsplit(".", 1)[-1]
        if name in found and found[name][1] != options:
            raise ValueError(
                f"two different methods are named {name!r} ({found[name][0]} and {path}); "
                f"give {path}.name another value"
            )
        found.setdefault(name, (path, options))
    return [(path, name, options) for name, (path, options) in found.items()]


def method_configs(cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """Each method's constructor options by its name (`method` first, then `methods`)."""
    return {name: options for _, name, options in method_entries(cfg)}


def build_methods(
    setup: Setup, model: nn.Module, target_layer: str
) -> dict[str, CAMMethod]:
    """Every method of `setup` on `model` (the real one, or one on the meta device: constructors
    only check their arguments). A constructor's ValueError or TypeError becomes a ConfigError
    that names the method and where it was set."""
    methods = {}
    for name, options in setup.methods.items():
        try:
            methods[name] = instantiated(options, model=model, target_layer=target_layer)
        except (ValueError, TypeError) as error:
            if isinstance(error, ConfigError):
                raise
            where = setup.paths.get(name, name)
            raise ConfigError(f"{where} ({name}): {error}") from error
    return methods


def build_metrics(cfg: DictConfig, chunk_size: int) -> Metrics:
    """The deletion and insertion metrics and the confidence modes of `cfg` (the `metrics` node)."""
    modes = tuple(cfg.confidence.modes or ())
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown confidence mode {unknown[0]!r}; valid: {', '.join(MODES)}")
    deletion = instantiated(cfg.deletion) if cfg.get("deletion") else None
    insertion = instantiated(cfg.insertion) if cfg.get("insertion") else None
    return Metrics(
        modes,
        deletion,
        insertion,
        chunk_size,
        build_localization(cfg),
        complexity=bool(cfg.get("complexity")),
        gain=bool(cfg.get("gain")),
        adcc=bool(cfg.get("adcc")),
        sensitivity=instantiated(cfg.sensitivity) if cfg.get("sensitivity") else None,
        road=instantiated(cfg.road) if cfg.get("road") else None,
        metric_costs=bool(cfg.get("metric_costs")),
    )


def build_localization(cfg: DictConfig) -> Localization:
    """`metrics.localization` (absent in older run configs: no localisation metric)."""
    node = cfg.get("localization")
    if not node:
        return Localization()
    options = OmegaConf.to_container(node, resolve=True)
    assert isinstance(options, dict)
    return Localization(**{**options, "metrics": tuple(options.get("metrics") or ())})


def build_samples(data: DictConfig) -> list[Sample]:
    """The data set of `data._target_`, with the ground-truth boxes of `data.boxes` when set
    (clustercam.bench.boxes.read_boxes), narrowed by the subset keys (see Selection)."""
    options = OmegaConf.to_container(data, resolve=True)
    assert isinstance(options, dict)
    selection = Selection(**{key: options.pop(key) for key in SELECTION_KEYS if key in options})
    options.pop("name", None)
    boxes = options.pop("boxes", None)
    return selection.apply(with_boxes(instantiated(options), boxes))


def build_model(setup: Setup) -> ZooModel:
    """The configured model on the plan's device, torch seeded with the run's seed first (so a
    model with random weights, and anything after it that draws from torch's generator, is the
    same at every start)."""
    torch.manual_seed(setup.cfg.seed)
    return instantiated(setup.cfg.model, device=setup.plan.device)


def meta_model(model: DictConfig) -> ZooModel:
    """The configured model on the meta device, with random weights for `weights: imagenet`:
    nothing is downloaded or allocated, but the layers and their shapes are real."""
    options = OmegaConf.to_container(model, resolve=True)
    assert isinstance(options, dict)
    takes = parameters(get_object(options["_target_"])) or ()
    if "weights" in takes and options.get("weights", PRETRAINED) == PRETRAINED:
        options["weights"] = RANDOM  # any other value goes as it is: the target may refuse it
    with torch.device("meta"):
        return instantiated(options, device="meta")


def counted_model(setup: Setup, zoo: ZooModel) -> CostCounter:
    """The zoo's model wrapped to count its passes, at the run's precision."""
    return counted(zoo.model, setup.config["precision"])


def instantiated(options: Any, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, raising what the target raised rather than Hydra's wrapper
    (Error in call to target ...), so that its type and message reach whoever catches it."""
    try:
        return instantiate(options, **kwargs)
    except InstantiationException as error:
        cause = root_cause(error)
        if cause is error:
            raise
        raise cause.with_traceback(cause.__traceback__) from None


def root_cause(error: BaseException) -> BaseException:
    """The error under Hydra's InstantiationException wrappers (itself when not wrapped)."""
    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    return error


def parameters(target: Any) -> list[str] | None:
    """The keyword parameters of a callable; None when it takes **kwargs."""
    found = inspect.signature(target).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in found):
        return None
    return [p.name for p in found if p.kind is not inspect.Parameter.VAR_POSITIONAL]
