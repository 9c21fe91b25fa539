"""Deletion and Insertion (Petsiuk et al., RISE 2018; docs/metrics.md): does p_c follow the map?

One mechanism serves both. Pixels are ranked by saliency, descending, with a stable sort (ties go
to the lower flat pixel index h * W + w). A curve moves from a `start` image to a `finish` image by
copying finish pixels (all channels of a pixel together) in rank order, `step` pixels at a time:
point t, for t = 0..n_steps with n_steps = ceil(H * W / step), is start with the pixels of rank
< min(t * step, H * W) taken from finish, scored as p_c. So point 0 is start and the last point is
finish exactly.
- Deletion: start = x, finish = substrate (`zeros` by default: 0 is the mean in normalised space).
- Insertion: start = substrate (`blur` by default: Gaussian blur of x), finish = x.
AUC = (sum(curve) - curve[0] / 2 - curve[-1] / 2) / (len(curve) - 1), the trapezoid on [0, 1].
Deletion: lower is better; insertion: higher is better.

The two endpoints do not depend on the map. `CausalMetric.endpoints` scores them once per image
(2 forwards, 1 when p_c(x) is passed in) so that N methods on the same image pay for them once;
given endpoints, a curve costs exactly n_steps - 1 forwards per image, otherwise n_steps + 1.

Invalid maps (constant, NaN, inf; see `invalid_maps`) get NaN curves and AUC and cost nothing.

Cost: the metric accepts any nn.Module and sends images through it only via `class_scores`, in
chunks of `chunk_size` over the flattened (image, step) pairs, each chunk built only when scored.
To report the metric's own cost apart from the method's, wrap the model:
    counter = counted(model)
    with counter.measure() as cost:
        result = metric(counter, images, maps, classes, endpoints=ends)
The model must already be in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

import torch
from torch import nn

from clustercam.map_ops import blur
from clustercam.scoring import class_scores, memory_format
from metrics.validity import check_batch, check_per_image, invalid_maps

Kind = Literal["deletion", "insertion"]
Substrate = Literal["zeros", "blur"]
KINDS: tuple[str, ...] = get_args(Kind)
SUBSTRATES: tuple[str, ...] = get_args(Substrate)
DEFAULT_SUBSTRATE: dict[str, Substrate] = {"deletion": "zeros", "insertion": "blur"}


@dataclass(frozen=True)
class CausalPreset:
    """A published protocol: pixels per step and the Gaussian blur of the blur substrate."""

    step: int
    blur_kernel: int
    blur_sigma: float


# The presets' one declaration: configs/metrics/*.yaml read their numbers from here (through the
# `metrics_preset` resolver of clustercam.bench.schema); docs/metrics.md says where they come from.
PRESETS: dict[str, CausalPreset] = {
    "rise": CausalPreset(step=224, blur_kernel=11, blur_sigma=5.0),
    "groupcam": CausalPreset(step=448, blur_kernel=51, blur_sigma=50.0),
    "fast": CausalPreset(step=1792, blur_kernel=11, blur_sigma=5.0),
}


def preset(name: str) -> CausalPreset:
    """The preset called `name`; a ValueError lists the valid names otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown causal-metric preset {name!r}; valid: {', '.join(PRESETS)}")
    return PRESETS[name]


def auc(curves: torch.Tensor) -> torch.Tensor:
    """(B, T) -> (B,): trapezoid area of curves sampled evenly on [0, 1]; NaN rows stay NaN."""
    if curves.shape[-1] < 2:
        raise ValueError("a curve needs at least 2 points")
    total = curves.sum(dim=-1) - curves[..., 0] / 2 - curves[..., -1] / 2
    return total / (curves.shape[-1] - 1)


@dataclass
class CausalResult:
    """Curves (B, n_steps + 1) and their AUC (B,); NaN rows for images whose map was skipped."""

    curves: torch.Tensor
    auc: torch.Tensor

    @property
    def scored(self) -> torch.Tensor:
        """(B,) bool: images whose map was valid and therefore scored."""
        return ~torch.isnan(self.auc)

    @classmethod
    def cat(cls, results: Sequence[CausalResult]) -> CausalResult:
        """Joins batches (same image size and step, hence the same curve length)."""
        return cls(torch.cat([r.curves for r in results]), torch.cat([r.auc for r in results]))


@dataclass(frozen=True)
class CausalMetric:
    """Deletion or insertion with a given step and substrate; call it on a batch.

    `substrate=None` takes the kind's default (deletion: zeros, insertion: blur). The blur settings
    are used only by the `blur` substrate.
    """

    kind: Kind
    step: int = 224
    substrate: Substrate | None = None
    blur_kernel: int = 11
    blur_sigma: float = 5.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown causal metric {self.kind!r}; valid: {', '.join(KINDS)}")
        if self.substrate is None:
            object.__setattr__(self, "substrate", DEFAULT_SUBSTRATE[self.kind])
        if self.substrate not in SUBSTRATES:
            raise ValueError(
                f"unknown substrate {self.substrate!r}; valid: {', '.join(SUBSTRATES)}"
            )
        if self.step < 1:
            raise ValueError(f"step must be >= 1 pixel, got {self.step}")

    @classmethod
    def from_preset(cls, kind: Kind, name: str = "rise", **overrides: Any) -> CausalMetric:
        """The metric of a named preset; keyword overrides (e.g. substrate='blur') win."""
        chosen = preset(name)
        metric = cls(kind, chosen.step, None, chosen.blur_kernel, chosen.blur_sigma)
        return replace(metric, **overrides) if overrides else metric

    def n_steps(self, height: int, width: int) -> int:
        """ceil(H * W / step); the curve has n_steps + 1 points."""
        return -(-height * width // self.step)

    def substrate_images(self, images: torch.Tensor) -> torch.Tensor:
        """What removed pixels become (deletion) or what insertion starts from."""
        if self.substrate == "zeros":
            return torch.zeros_like(images)
        if self.blur_kernel // 2 >= min(images.shape[-2:]):
            raise ValueError(
                f"blur kernel {self.blur_kernel} is too large for {tuple(images.shape[-2:])} "
                "images (reflect padding needs kernel_size // 2 < height and width)"
            )
        return blur(images, self.blur_kernel, self.blur_sigma)

    def start_finish(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The images the curve starts and finishes at."""
        if self.kind == "deletion":
            return images, self.substrate_images(images)
        return self.substrate_images(images), images

    def endpoints(
        self,
        model: nn.Module,
        images: torch.Tensor,
        classes: torch.Tensor,
        chunk_size: int = 64,
        original_probs: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, 2): p_c(start), p_c(finish), to pass to every call on these images.

        Costs 2 forwards per image, 1 when `original_probs` (p_c(x), e.g. shared with Average
        Drop or the other causal metric) is given.
        """
        if images.ndim != 4:
            raise ValueError(
                f"images must be a (B, C, H, W) batch, got shape {tuple(images.shape)}"
            )
        classes = check_per_image(classes, len(images), "classes", images).long()
        if original_probs is not None:
            original_probs = check_per_image(original_probs, len(images), "original_probs", images)
        everyone = torch.arange(len(images), device=images.device)
        ends = self.start_finish(images)
        return self._endpoints(model, ends, classes, everyone, chunk_size, original_probs)

    def _endpoints(
        self,
        model: nn.Module,
        start_finish: tuple[torch.Tensor, torch.Tensor],
        classes: torch.Tensor,
        which: torch.Tensor,
        chunk_size: int,
        original_probs: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Endpoint scores of the images `which` only, shape (len(which), 2)."""
        ends = torch.empty(len(which), 2, device=classes.device)
        x_end = 0 if self.kind == "deletion" else 1
        for end, batch in enumerate(start_finish):
            if end == x_end and original_probs is not None:
                ends[:, end] = original_probs[which].float()
                continue
            ends[:, end] = class_scores(
                model,
                len(which),
                _rows(batch, which),
                classes[which],
                chunk_size,
            )
        return ends

    def __call__(
        self,
        model: nn.Module,
        images: torch.Tensor,
        maps: torch.Tensor,
        classes: torch.Tensor,
        endpoints: torch.Tensor | None = None,
        chunk_size: int = 64,
    ) -> CausalResult:
        """Curves and AUC of each image; `endpoints` (B, 2) from `self.endpoints` skip 2 forwards.

        Only the map's pixel order matters, so any strictly increasing transform of a map gives
        the same curve.
        """
        maps, classes = check_batch(images, maps, classes)
        n_images, _, height, width = images.shape
        n_pixels, n_steps = height * width, self.n_steps(height, width)
        keep = (~invalid_maps(maps)).nonzero()[:, 0]  # the one host sync of a call
        start_images, finish_images = self.start_finish(images)
        if endpoints is not None:
            if tuple(endpoints.shape) != (n_images, 2):
                raise ValueError(
                    f"endpoints must have shape {(n_images, 2)}, got {tuple(endpoints.shape)}"
                )
            ends = endpoints.to(images.device)[keep].float()
        else:
            ends = self._endpoints(model, (start_images, finish_images), classes, keep, chunk_size)
        order = torch.sort(maps[keep].flatten(1), dim=1, descending=True, stable=True).indices
        ranks = torch.empty_like(order).scatter_(
            1, order, torch.arange(n_pixels, device=order.device).expand_as(order)
        )
        n_inner = n_steps - 1  # points 1..n_steps-1; both ends are known
        inner = class_scores(
            model,
            len(keep) * n_inner,
            _CurveImages(start_images[keep], finish_images[keep], ranks, self.step, model),
            classes[keep].repeat_interleave(n_inner),
            chunk_size,
        )
        curves = torch.full((n_images, n_steps + 1), float("nan"), device=images.device)
        curves[keep] = torch.cat([ends[:, :1], inner.view(len(keep), n_inner), ends[:, 1:]], 1)
        return CausalResult(curves=curves, auc=auc(curves))


def _rows(images: torch.Tensor, which: torch.Tensor) -> Callable[[int, int], torch.Tensor]:
    """`make_inputs` for `class_scores`: the images `which[start:stop]`, chunk by chunk."""
    return lambda start, stop: images[which[start:stop]]


class _CurveImages:
    """Builds the inner curve points of the kept images, chunk by chunk, on their device.

    Pair i is image i // n_inner at point t = i % n_inner + 1: its start image with the pixels of
    rank < t * step taken from its finish image. Which images a chunk spans is plain integer
    arithmetic, so building a chunk never waits for the device, and each chunk is written into
    one buffer, allocated once per curve call in the model's memory format.
    """

    def __init__(
        self,
        start: torch.Tensor,
        finish: torch.Tensor,
        ranks: torch.Tensor,
        step: int,
        model: nn.Module,
    ) -> None:
        self.start, self.finish, self.ranks = start, finish, ranks
        self.n_inner = -(-ranks.shape[1] // step) - 1
        self.thresholds = step * torch.arange(1, self.n_inner + 1, device=ranks.device)
        self.layout = memory_format(model)
        self.buffer: torch.Tensor | None = None

    def __call__(self, start: int, stop: int) -> torch.Tensor:
        if self.buffer is None:  # the first chunk is the largest
            self.buffer = torch.empty(
                (stop - start, *self.start.shape[1:]),
                dtype=self.start.dtype,
                device=self.start.device,
                memory_format=self.layout,
            )
        chunk = self.buffer[: stop - start]
        height, width = self.start.shape[-2:]
        for image in range(start // self.n_inner, (stop - 1) // self.n_inner + 1):
            first = max(start, image * self.n_inner)
            last = min(stop, (image + 1) * self.n_inner)
            thresholds = self.thresholds[first - image * self.n_inner : last - image * self.n_inner]
            from_finish = (self.ranks[image] < thresholds[:, None]).view(-1, 1, height, width)
            torch.where(
                from_finish,
                self.finish[image],
                self.start[image],
                out=chunk[first - start : last - start],
            )
        return chunk


def deletion(name: str = "rise", **overrides: Any) -> CausalMetric:
    """Deletion with a named preset (substrate zeros unless overridden)."""
    return CausalMetric.from_preset("deletion", name, **overrides)


def insertion(name: str = "rise", **overrides: Any) -> CausalMetric:
    """Insertion with a named preset (starts from the preset's blur unless overridden)."""
    return CausalMetric.from_preset("insertion", name, **overrides)


def summarize_auc(result: CausalResult) -> tuple[float, int, int]:
    """Mean AUC over the scored images, the number scored and the number skipped."""
    scored = result.scored
    n_scored = int(scored.sum())
    mean = float(result.auc[scored].double().mean()) if n_scored else float("nan")
    return mean, n_scored, len(scored) - n_scored
