"""The one engine that scores perturbed images: in chunks, lazily, counted by the cost counter.

Score-CAM, Cluster-CAM and the sanity baselines score masked images with it; deletion, insertion
and Average Drop score perturbed images with it. Chunk size therefore lives in one place and never
changes a result.

Every forward pass runs at one of a few fixed batch shapes (`batch_shapes`): a short last chunk is
padded with zero images up to the next shape and the padded rows' scores are dropped. On a GPU a
batch size never seen before makes cuDNN plan every convolution again (seconds per new shape), and
each image would otherwise end on a new size; padding makes that a one-time warm-up. The cost
counter counts padded rows apart (`padding_images`), never as forward passes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from clustercam.cost import CostCounter

Output = Literal["probability", "logit"]


def batch_shapes(chunk_size: int) -> list[int]:
    """The batch sizes forwards run at: powers of two below `chunk_size`, then `chunk_size`.

    Padding a short chunk to the next of these wastes less than half of it, and a run meets at
    most log2(chunk_size) + 1 shapes whatever its images.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    shapes = [1 << power for power in range(chunk_size.bit_length()) if 1 << power < chunk_size]
    return [*shapes, chunk_size]


def padded_size(n_inputs: int, chunk_size: int) -> int:
    """The smallest batch shape of `batch_shapes(chunk_size)` that holds `n_inputs` (<= chunk)."""
    return next(shape for shape in batch_shapes(chunk_size) if shape >= n_inputs)


def memory_format(model: nn.Module) -> torch.memory_format:
    """channels_last when the model's convolution weights are stored so, else contiguous."""
    for parameter in model.parameters():
        if parameter.ndim == 4:
            if parameter.is_contiguous() or not parameter.is_contiguous(
                memory_format=torch.channels_last
            ):
                return torch.contiguous_format
            return torch.channels_last
    return torch.contiguous_format


@torch.inference_mode()
def class_scores(
    model: nn.Module,
    n_inputs: int,
    make_inputs: Callable[[int, int], torch.Tensor],
    classes: torch.Tensor,
    chunk_size: int,
    output: Output = "probability",
) -> torch.Tensor:
    """Scores (float32) of `classes[i]` on input i, for i in 0..n_inputs-1.

    `make_inputs(start, stop)` builds inputs start..stop-1 only when they are needed, so at most one
    chunk of perturbed images is ever held in memory.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if len(classes) != n_inputs:
        raise ValueError(f"{n_inputs} inputs but {len(classes)} classes")
    scores = torch.empty(n_inputs, device=classes.device)
    layout = memory_format(model)
    for start in range(0, n_inputs, chunk_size):
        stop = min(start + chunk_size, n_inputs)
        inputs = make_inputs(start, stop).contiguous(memory_format=layout)
        padding = padded_size(stop - start, chunk_size) - (stop - start)
        if padding:
            zeros = inputs.new_zeros((padding, *inputs.shape[1:]))
            inputs = torch.cat([inputs, zeros.contiguous(memory_format=layout)])
        counter = isinstance(model, CostCounter)
        logits = model(inputs, padding=padding) if counter else model(inputs)
        logits = logits[: stop - start].float()
        if output == "probability":
            logits = logits.softmax(dim=1)
        scores[start:stop] = logits.gather(1, classes[start:stop, None].to(logits.device))[:, 0]
    return scores
