"""Tail passes: the layers after a target layer run on a batch of modified activations.

Methods that perturb the target layer's activations (Ablation-CAM) need only the rest of the
network. The model runs on an empty batch (so the layers before the target layer cost nothing) and a
forward hook replaces the target layer's empty output by the N modified rows; the counter records
N tail passes, apart from full forward passes.

This is exact for any model in which nothing after the target layer reads a tensor computed before
it (VGG16 `features.29`, ResNet `layer4`, EfficientNet `bn2`). A model that does (e.g. a residual
connection around the target layer) mixes the N rows with the empty batch; that is caught and
reported with the layer's name.
"""

from __future__ import annotations

import torch
from torch import nn

from clustercam.cost import CostCounter


def _layer_name(model: nn.Module, layer: nn.Module) -> str:
    return next((name for name, module in model.named_modules() if module is layer), "?")


@torch.inference_mode()
def tail_logits(
    model: CostCounter, layer: nn.Module, activations: torch.Tensor, images: torch.Tensor
) -> torch.Tensor:
    """Logits (N, classes) of the network from `layer` onward, fed `activations` (N, ...) as the
    layer's output. `images` (any batch size) only tells the input shape, dtype and device."""
    name = _layer_name(model.model, layer)
    n_rows = len(activations)
    reached = False

    def replace(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        nonlocal reached
        reached = True
        if tuple(output.shape[1:]) != tuple(activations.shape[1:]):
            raise ValueError(
                f"tail pass at layer {name!r}: activations of shape {tuple(activations.shape[1:])}"
                f" per row, but the layer outputs {tuple(output.shape[1:])} for these images"
            )
        return activations.to(output.dtype)

    handle = layer.register_forward_hook(replace)
    try:
        logits = model(images[:0])
    except RuntimeError as error:
        if not reached:
            raise ValueError(
                f"tail pass at layer {name!r}: the layers before it fail on an empty batch; "
                "this model cannot use tail passes"
            ) from error
        raise _mismatch(name) from error
    finally:
        handle.remove()
    if not reached:
        raise RuntimeError(f"tail pass: layer {name!r} was not reached by the forward pass")
    if len(logits) != n_rows:
        raise _mismatch(name)
    model.tail_images += n_rows
    return logits


def _mismatch(name: str) -> ValueError:
    return ValueError(
        f"tail pass at layer {name!r}: the layers after it read a tensor computed before it (e.g. "
        "a residual connection around it), so they cannot run on modified activations alone; "
        "choose the output of a whole block (e.g. ResNet layer4) as the target layer"
    )
