"""How long a run will take, said before its loop starts; a CPU run too long to wait is refused.

Each method's passes per image follow from its options and the target layer's channels (Score-CAM
and its kind: one masked pass per channel, Group-CAM one per group, upper bounds, as all-zero maps
are skipped; RISE one per mask; SS-CAM one per channel and noise sample); the metrics' from the
preset (AD/IC one pass per mask mode, deletion and insertion one per inner point of the curve).
One forward pass is timed on the run's model (clustercam.bench.timing.floor_seconds at the run's
chunk size), a backward pass counted as two forward passes. Tail passes (Ablation-CAM: the layers
after the target layer) are counted, not timed. Methods not listed here are taken as one forward
and one backward pass. An estimate, not a promise: the floor is the model's best time, so the run
is usually slower, by more when other processes share the CPU.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from hydra.utils import get_object

from clustercam.bench.build import Metrics, Setup
from clustercam.bench.data import UnreadableImageError, load_image
from clustercam.bench.errors import ConfigError
from clustercam.bench.timing import floor_seconds
from clustercam.bench.zoo import ZooModel
from clustercam.cam_method import resolve_layer

BACKWARD_IN_FORWARDS = 2.0  # the usual rule: a backward pass costs about two forward passes
FLOOR_REPEATS = 2
# Options that set how many random samples a method draws: a CPU budget lowers them.
SAMPLE_OPTIONS = ("n_masks", "n_samples")


@dataclass(frozen=True)
class Passes:
    """One method's passes per image: forward (full model), backward, tail (after the layer)."""

    forward: float
    backward: float = 0.0
    tail: float = 0.0
    assumed: bool = False  # a method this module does not know: 1 forward + 1 backward

    def seconds(self, forward_seconds: float) -> float:
        return (self.forward + BACKWARD_IN_FORWARDS * self.backward) * forward_seconds


def method_passes(options: Mapping[str, Any], layer: Sequence[int]) -> Passes:
    """Passes per image of the method built from `options` (its config), on a target layer whose
    output is `layer` (channels, height, width) per image: the counts Table 3 reports, at most."""
    channels, positions = layer[0], math.prod(layer[1:])
    target = str(options.get("_target_", "")).rsplit(".", 1)[-1]
    if target == "ClusterCAM":
        return Passes(1 + int(options.get("n_clusters", 8)))
    if target == "ScoreCAM":
        return Passes(1 + channels)
    if target == "SSCAM":
        return Passes(1 + channels * int(options.get("n_samples", 35)))
    if target == "RISE":
        return Passes(1 + int(options.get("n_masks", 4000)))
    if target == "GroupCAM":
        return Passes(2 + min(channels, int(options.get("groups", 32))), backward=1)
    if target == "AblationCAM":
        return Passes(1, tail=channels)
    if target == "ReciproCAM":
        return Passes(1, tail=positions)
    if target == "OptiCAM":
        iterations = int(options.get("iterations", 50))
        return Passes(1 + iterations, backward=iterations)
    if target in ("RandomMap", "CenterMap", "FakeMap", "EigenCAM", "KPCACAM", "FEM"):
        return Passes(1)
    if target in ("GradCAM", "GradCAMPlusPlus", "LayerCAM", "XGradCAM", "HiResCAM", "CFCAM"):
        return Passes(1, backward=1)
    return Passes(1, backward=1, assumed=True)


def metric_passes(metrics: Metrics, height: int, width: int) -> tuple[int, int]:
    """(forward passes the metrics spend per image and method, per image shared by the methods):
    one per AD/IC mask mode and one per inner point of each deletion/insertion curve; shared, the
    original image and each curve's end point, which every method's curve has."""
    passes = len(metrics.confidence_modes)
    shared = 1
    for metric in (metrics.deletion, metrics.insertion):
        if metric is not None:
            passes += metric.n_steps(height, width) - 1
            shared += 1
    return passes, shared


def budgets(methods: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """`rise n_masks=1000 (default 4000)` for each sampling option set below its method's default:
    a reduced budget, which a run states in its log and its summary."""
    found = []
    for name, options in methods.items():
        try:
            defaults = inspect.signature(get_object(str(options.get("_target_")))).parameters
        except (ImportError, AttributeError, ValueError, TypeError):
            continue
        for key in SAMPLE_OPTIONS:
            default = defaults[key].default if key in defaults else None
            value = options.get(key)
            if isinstance(default, int) and isinstance(value, int) and value < default:
                found.append(f"{name} {key}={value} (default {default})")
    return found


@dataclass(frozen=True)
class Estimate:
    """Seconds per image of each method (its own passes and its metrics'), for `n_images`."""

    forward_seconds: float
    passes: dict[str, Passes]
    metric_forward: int
    shared_forward: int  # passes per image shared by the methods (the original image, end points)
    n_images: int
    device: str

    def method_seconds(self, name: str) -> float:
        return self.passes[name].seconds(self.forward_seconds) + (
            self.metric_forward * self.forward_seconds
        )

    @property
    def per_image(self) -> float:
        shared = self.shared_forward * self.forward_seconds
        return shared + sum(self.method_seconds(name) for name in self.passes)

    @property
    def total(self) -> float:
        return self.per_image * self.n_images

    def describe(self) -> str:
        """One line: total, per image, the slowest methods, and how it was estimated."""
        ranked = sorted(self.passes, key=self.method_seconds, reverse=True)
        slowest = ", ".join(
            f"{name} {duration(self.method_seconds(name))} ({self.passes[name].forward:g} passes)"
            for name in ranked[:3]
        )
        assumed = [name for name in ranked if self.passes[name].assumed]
        note = f"; {', '.join(assumed)} taken as 1 forward + 1 backward" if assumed else ""
        return (
            f"estimate: {duration(self.total)} for {self.n_images} images on {self.device} "
            f"({duration(self.per_image)} per image; slowest {slowest}), from one forward pass "
            f"timed at {self.forward_seconds * 1000:.1f} ms per image{note}; a lower bound when "
            "other processes share the device"
        )


def estimate(setup: Setup, zoo: ZooModel, n_images: int) -> Estimate | None:
    """Times one forward pass of the run's model on its first readable image and estimates the
    run's `n_images` images; None when no image can be read."""
    image = None
    for sample in setup.samples:
        try:
            image = zoo.transform(load_image(sample.path))[None].to(zoo.device)
            break
        except UnreadableImageError:
            continue
    if image is None:
        return None
    shapes: list[torch.Size] = []
    layer = resolve_layer(zoo.model, zoo.target_layer)
    hook = layer.register_forward_hook(lambda module, inputs, output: shapes.append(output.shape))
    try:
        seconds = floor_seconds(zoo.model, image, setup.plan.chunk_size, FLOOR_REPEATS)
    finally:
        hook.remove()
    layer_shape = tuple(int(n) for n in shapes[0][1:]) if shapes else (1,)
    metric_forward, shared_forward = metric_passes(setup.metrics, *image.shape[-2:])
    return Estimate(
        forward_seconds=seconds,
        passes={name: method_passes(o, layer_shape) for name, o in setup.methods.items()},
        metric_forward=metric_forward,
        shared_forward=shared_forward,
        n_images=n_images,
        device=str(zoo.device),
    )


def check_cpu_time(found: Estimate, limit_minutes: float | None, budget: Sequence[str]) -> None:
    """Refuses (ConfigError, one line) a CPU run whose estimate exceeds `limit_minutes`."""
    if limit_minutes is None or found.device != "cpu" or found.total <= 60 * limit_minutes:
        return
    heavy = [n for n in found.passes if found.passes[n].forward > 1000]
    advice = "experiment=compare_fast (CPU budgets), " if heavy and not budget else ""
    raise ConfigError(
        f"{found.describe().removeprefix('estimate: ')}: more than max_cpu_minutes="
        f"{limit_minutes:g}; try {advice}fewer images (data.n_images=2), fewer methods "
        "('~methods.<key>'), a GPU, or max_cpu_minutes=null to run it anyway"
    )


def duration(seconds: float) -> str:
    """`45 s`, `12 min`, `3.4 h`."""
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 90:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
