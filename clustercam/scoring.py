"""The one engine that scores perturbed images: in chunks, lazily, counted by the cost counter.

Score-CAM, Cluster-CAM and the sanity baselines score masked images with it; deletion, insertion
and Average Drop score perturbed images with it. Chunk size therefore lives in one place and never
changes a result.

Every forward pass runs at one of a few fixed batch shapes (`batch_shapes`): a short last chunk is
padded with zero images up to the next shape and the padded rows' scores are dropped. On a GPU a
batch size never seen before makes cuDNN plan every convolution again (seconds per new shape), and
each image would otherwise end on a new size; padding makes that a one-time warm-up. The cost
counter counts padded rows apart (`padding_images`), never as forward passes.

Out of GPU memory, a chunk is retried at half the size (down to one image) and the smaller size is
kept for the rest of the process on that device (`chunk_limits`), so a run goes on with the same
results; the bench records the limits in the run folder (runtime.json).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from clustercam.cost import CostCounter

Output = Literal["probability", "logit"]

log = logging.getLogger(__name__)
# Device -> the largest chunk that fitted after running out of memory there.
_CHUNK_LIMITS: dict[str, int] = {}


def chunk_limits() -> dict[str, int]:
    """The chunk sizes this process has backed off to, by device ({} while none ran out)."""
    return dict(_CHUNK_LIMITS)


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
    counter = isinstance(model, CostCounter)
    device = str(classes.device)
    start = 0
    while start < n_inputs:
        size = min(chunk_size, _CHUNK_LIMITS.get(device, chunk_size))
        stop = min(start + size, n_inputs)
        try:
            inputs = make_inputs(start, stop).contiguous(memory_format=layout)
            padding = padded_size(stop - start, size) - (stop - start)
            if padding:
                zeros = inputs.new_zeros((padding, *inputs.shape[1:]))
                inputs = torch.cat([inputs, zeros.contiguous(memory_format=layout)])
            logits = model(inputs, padding=padding) if counter else model(inputs)
        except torch.cuda.OutOfMemoryError:
            if size == 1:
                raise
            logits = None
        if logits is None:  # outside the except block: the failed chunk's tensors are freed
            _back_off(device, size)
            continue
        logits = logits[: stop - start].float()
        if output == "probability":
            logits = logits.softmax(dim=1)
        scores[start:stop] = logits.gather(1, classes[start:stop, None].to(logits.device))[:, 0]
        start = stop
    return scores


def _back_off(device: str, size: int) -> None:
    """Halves the chunk size on `device` after `size` images ran out of memory."""
    _CHUNK_LIMITS[device] = size // 2
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    log.warning(
        "out of memory on %s with %d images per forward pass: going on with %d "
        "(results are the same for any chunk size)", device, size, size // 2,
    )
