"""The method interface every explanation method implements, and the steps they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from clustercam.cost import Cost, CostCounter, counted
from clustercam.map_ops import minmax_normalize, upsample
from clustercam.scoring import Output, class_scores


@dataclass
class Explanation:
    """Saliency maps (B, H, W) in [0, 1], the explained classes (B,) and the cost per image."""

    maps: torch.Tensor
    classes: torch.Tensor
    cost: Cost


class _Captured:
    output: torch.Tensor | None = None


@contextmanager
def capture_output(layer: nn.Module) -> Iterator[_Captured]:
    """Keeps the output of `layer` from forward passes inside the block; the hook always goes."""
    captured = _Captured()

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        captured.output = output

    handle = layer.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Every method's options refuse an unknown value the same way, naming the valid ones."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


def check_count(name: str, value: object) -> None:
    """Counts (K, G, N, samples) must be integers >= 1; a bool is not a count."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def resolve_layer(model: nn.Module, target_layer: str | nn.Module) -> nn.Module:
    if isinstance(target_layer, nn.Module):
        return target_layer
    try:
        return model.get_submodule(target_layer)
    except AttributeError:
        names = [name for name, _ in model.named_modules() if name]
        hint = ", ".join(names[-8:])
        raise ValueError(
            f"target layer {target_layer!r} is not a module of {type(model).__name__}; "
            f"its last modules are: {hint}"
        ) from None


def resolve_targets(
    logits: torch.Tensor, targets: torch.Tensor | Sequence[int] | int | None
) -> torch.Tensor:
    """The classes to explain: the top-1 prediction where none is given."""
    n_images, n_classes = logits.shape
    if targets is None:
        return logits.argmax(dim=1)
    classes = torch.as_tensor(targets, device=logits.device).long().reshape(-1)
    if classes.numel() == 1:
        classes = classes.expand(n_images)
    if classes.numel() != n_images:
        raise ValueError(f"{classes.numel()} target classes for {n_images} images")
    bad = classes[(classes < 0) | (classes >= n_classes)]
    if bad.numel():
        raise ValueError(
            f"target class {bad[0].item()} is outside 0..{n_classes - 1} (the model's classes)"
        )
    return classes.clone()


def mask_owners(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """The image b of each mask of the stacks `maps` (one (K_b, h, w) stack per image b), made
    in a fixed number of operations whatever the number of images."""
    counts = torch.tensor([len(m) for m in maps], dtype=torch.long)
    return torch.arange(len(maps)).repeat_interleave(counts)


class CAMMethod(ABC):
    """Base of every method: one forward pass with the target layer hooked, then `saliency`.

    Subclasses override `saliency` only; the base resolves target classes, upsamples to the input
    size, min-max normalises, and measures the cost of the whole call through the model wrapper.
    """

    # Not a ClassVar: most methods set it on the class, adapters (TorchCAM) per instance.
    needs_gradients: bool = False

    def __init__(
        self, model: nn.Module, target_layer: str | nn.Module, chunk_size: int = 64
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.model: CostCounter = counted(model)
        self.layer = resolve_layer(self.model.model, target_layer)
        self.chunk_size = chunk_size
        self.setup_cost = Cost()
        self._prepared = False

    def __call__(
        self, images: torch.Tensor, targets: torch.Tensor | Sequence[int] | int | None = None
    ) -> Explanation:
        if images.ndim != 4:
            raise ValueError(f"images must be a (B, C, H, W) batch, got {tuple(images.shape)}")
        if not self._prepared:
            with self.model.measure() as self.setup_cost:
                self.prepare(images)
            self._prepared = True
        with self.model.measure() as cost:
            with torch.set_grad_enabled(self.needs_gradients), capture_output(self.layer) as hooked:
                # An input that requires grad keeps the layer differentiable in frozen models too.
                logits = self.model(images.detach().requires_grad_(self.needs_gradients))
            if hooked.output is None:
                raise RuntimeError("the target layer was not reached by the forward pass")
            classes = resolve_targets(logits, targets)
            raw = self.saliency(images, classes, logits, hooked.output)
            maps = upsample(raw.detach().float(), images.shape[-2:])
            maps = minmax_normalize(maps, over=(-2, -1))
        return Explanation(maps=maps, classes=classes, cost=cost.per_image(len(images)))

    def prepare(self, images: torch.Tensor) -> None:  # noqa: B027 - optional hook, empty by default
        """Work done once per model (e.g. a reference image's scores), reported as `setup_cost`."""

    @abstractmethod
    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        """Raw saliency (B, h, w) at any resolution; the base upsamples and normalises it."""

    def score_masks(
        self,
        images: torch.Tensor,
        maps: Sequence[torch.Tensor],
        classes: torch.Tensor,
        substrate: torch.Tensor | None = None,
        output: Output = "probability",
    ) -> list[torch.Tensor]:
        """Scores of x * m + substrate * (1 - m) for the masks m = norm(Up(map)) of each image.

        `maps[b]` is a (K_b, h, w) stack for image b; all K_1 + ... + K_B masked images go through
        the model in chunks, so small per-image counts still fill a chunk. Returns one (K_b,) score
        tensor per image.
        """
        owner = mask_owners(maps)
        flat_maps = torch.cat(list(maps)) if len(owner) else images.new_zeros(0, 1, 1)
        size = images.shape[-2:]

        def make_inputs(start: int, stop: int) -> torch.Tensor:
            which = owner[start:stop].to(images.device)
            masks = upsample(flat_maps[start:stop].float(), size)
            masks = minmax_normalize(masks, over=(-2, -1))[:, None]
            masked = images[which] * masks
            if substrate is not None:
                masked = masked + substrate[which] * (1 - masks)
            return masked

        scores = class_scores(
            self.model, len(owner), make_inputs, classes[owner.to(classes.device)],
            self.chunk_size, output,
        )
        return list(scores.split([len(m) for m in maps]))
