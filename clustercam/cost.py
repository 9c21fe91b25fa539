"""Cost accounting by wrapping the model, so no method can under-report what it spent."""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

AutocastPrecision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = get_args(AutocastPrecision)
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Cost:
    """Images pushed through the full network forward and backward, wall seconds, and tail
    passes: rows run only through the layers after a target layer (clustercam/tail.py)."""

    forward: float = 0.0
    backward: float = 0.0
    seconds: float = 0.0
    tail: float = 0.0

    def per_image(self, n_images: int) -> Cost:
        return Cost(
            self.forward / n_images,
            self.backward / n_images,
            self.seconds / n_images,
            self.tail / n_images,
        )

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.forward + other.forward,
            self.backward + other.backward,
            self.seconds + other.seconds,
            self.tail + other.tail,
        )


class CostCounter(nn.Module):
    """Wraps a classifier and counts every image that goes through it.

    A batch of 16 masked images counts 16 forward passes; a backward pass that reaches the logits
    of a batch of B images counts B backward passes (a tensor hook on the output sees it).
    `padding` rows (added only to keep batch shapes fixed, their scores dropped) are counted
    apart in `padding_images`, never as forward passes.

    `precision` runs the model under autocast (bf16 or fp16); the logits always come back in
    float32. fp32 (the default) runs the model exactly as it is.
    """

    def __init__(self, model: nn.Module, precision: AutocastPrecision = "fp32") -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        self.model = model
        self.precision: AutocastPrecision = precision
        self.forward_images = 0
        self.backward_images = 0
        self.tail_images = 0
        self.padding_images = 0

    def forward(self, images: torch.Tensor, padding: int = 0) -> torch.Tensor:
        n_images = images.shape[0] - padding
        with self._autocast(images.device):
            logits = self.model(images)
        # Counted once it succeeds: a pass that ran out of memory is retried with fewer images
        # (clustercam/scoring.py) and counted then.
        self.forward_images += n_images
        self.padding_images += padding
        logits = logits.float()
        if logits.requires_grad:
            logits.register_hook(lambda grad: self._count_backward(n_images))
        return logits

    def _count_backward(self, n_images: int) -> None:
        self.backward_images += n_images

    def _autocast(self, device: torch.device) -> AbstractContextManager:
        """Autocast to the chosen precision on `device`; a clear error where it is unsupported."""
        if self.precision == "fp32":
            return nullcontext()
        return _checked_autocast(device, self.precision)

    @contextmanager
    def measure(self) -> Iterator[Cost]:
        """Yields a Cost that holds what was spent inside the block once the block ends."""
        cost = Cost()
        device = next(self.model.parameters(), torch.empty(0)).device
        forward0, backward0 = self.forward_images, self.backward_images
        tail0 = self.tail_images
        _synchronize(device)
        start = time.perf_counter()
        try:
            yield cost
        finally:
            _synchronize(device)
            cost.seconds = time.perf_counter() - start
            cost.forward = self.forward_images - forward0
            cost.backward = self.backward_images - backward0
            cost.tail = self.tail_images - tail0


def counted(model: nn.Module, precision: AutocastPrecision | None = None) -> CostCounter:
    """The model itself if it is already counted, else a counter around it.

    `precision=None` keeps an existing counter's precision (fp32 for a new one); asking an existing
    counter for another precision is an error, since its owner chose one.
    """
    if isinstance(model, CostCounter):
        if precision is not None and precision != model.precision:
            raise ValueError(
                f"the model is already counted at precision {model.precision!r}, not "
                f"{precision!r}; wrap the bare model: counted(counter.model, {precision!r})"
            )
        return model
    return CostCounter(model, precision or "fp32")


class _OperationCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()
        self.paused = False

    def __torch_dispatch__(
        self,
        func: torch._ops.OpOverload,
        types: Sequence[type],
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        if not self.paused and not func.is_view:
            self.counts[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


@contextmanager
def operations_outside(model: nn.Module) -> Iterator[Counter[str]]:
    """Counts, by name, the torch operations dispatched in the block outside `model`'s forward
    passes, views left out.

    On a GPU each is a kernel launch (or a host step between launches), so the latency a method
    adds to its forward passes grows with this count; unlike seconds, it is the same on every run.
    """
    counter = _OperationCounter()
    handles = [
        model.register_forward_pre_hook(lambda *_: setattr(counter, "paused", True)),
        model.register_forward_hook(lambda *_: setattr(counter, "paused", False)),
    ]
    try:
        with counter:
            yield counter.counts
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def _checked_autocast(device: torch.device, precision: AutocastPrecision) -> Iterator[None]:
    if not torch.amp.is_autocast_available(device.type):
        raise ValueError(
            f"precision {precision!r} needs autocast, which torch does not offer on {device.type}; "
            "use precision='fp32' there (bf16 and fp16 need a cuda or cpu device)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns, then silently disables; we raise instead
        with torch.autocast(device.type, dtype=_AUTOCAST_DTYPES[precision]):
            if not torch.is_autocast_enabled(device.type):
                raise ValueError(
                    f"precision {precision!r} is not supported by autocast on {device.type} in "
                    f"torch {torch.__version__}; use 'fp32' there, or bf16 (cpu, cuda) or fp16 "
                    "(cuda; cpu on recent torch)"
                )
            yield


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
