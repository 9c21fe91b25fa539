"""What the metrics that call a method again (ADCC, Max-Sensitivity) need to know of methods.

A method is any callable `method(images, classes)` returning either an `Explanation` (every
`CAMMethod`) or the (B, H, W) maps themselves. Its passes are counted on the same `CostCounter`
as the metric's own (`method_counter`), so that a metric can report the method's extra calls
apart from its own forward passes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from clustercam.cam_method import Explanation
from clustercam.cost import CostCounter, counted

Explainer = Callable[[torch.Tensor, torch.Tensor], Explanation | torch.Tensor]


def explain(method: Explainer, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """The (B, H, W) maps of `method` for `classes`, detached."""
    output = method(images, classes)
    maps = output.maps if isinstance(output, Explanation) else output
    if not isinstance(maps, torch.Tensor) or tuple(maps.shape) != (
        len(images),
        *images.shape[-2:],
    ):
        shape = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise ValueError(
            f"the method must return (B, H, W) = {(len(images), *images.shape[-2:])} maps "
            f"(or an Explanation holding them), got {shape}"
        )
    return maps.detach().to(images.device)


def method_counter(method: Explainer, model: nn.Module) -> CostCounter:
    """The counter that sees both the method's passes and the metric's.

    A method holding a counter (`CAMMethod.model`) counts on it: it is used when it is `model` or
    wraps `model`. A method counting on any other counter would hide its passes from the metric,
    so that is an error. Other callables are assumed to run `model` (or its counter) itself.
    """
    own = getattr(method, "model", None)
    if isinstance(own, CostCounter):
        if own is model or own.model is model:
            return own
        raise ValueError(
            "the method counts its passes on another CostCounter than the one around `model`; "
            "pass the method's own counter (method.model) as the metric's model"
        )
    return counted(model)
