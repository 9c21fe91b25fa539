"""Adapters that run any pytorch-grad-cam or torchcam method under this benchmark's protocol.

The library gets our counted model (clustercam.cost.CostCounter), so every pass it makes is counted;
the classes come from our target resolution (top-1 where none is given) and the maps go through our
upsampling and min-max normalisation, so its maps meet the same metrics as ours. Both libraries are
optional: `pip install 'clustercam-bench[adapters]'`.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import torch
from torch import nn

from clustercam.cam_method import CAMMethod, Explanation, resolve_layer, resolve_targets
from clustercam.cost import Cost, counted
from clustercam.map_ops import minmax_normalize, upsample

# The constructor arguments an adapter passes itself, not options.
PYTORCH_GRAD_CAM_OWN = {"model", "target_layers"}


class AdapterError(ValueError):
    """An adapter cannot be built: its library is missing or has no method of that name."""


def _import_library(module: str, pip_name: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise AdapterError(
            f"{module} is not installed; run `pip install {pip_name}` "
            "(or `pip install 'clustercam-bench[adapters]'` for both adapters)"
        ) from error


def _pick_class(library: str, methods: dict[str, type], class_name: str) -> type:
    if class_name in methods:
        return methods[class_name]
    close = difflib.get_close_matches(class_name, list(methods), n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise AdapterError(
        f"{library} has no method {class_name!r}; {hint}"
        f"its methods are: {', '.join(sorted(methods))}"
    )


def _check_options(
    library: str, method_class: type, options: dict[str, Any], ours: set[str]
) -> None:
    """Refuses an option the class does not take (or one we pass ourselves) before it is built:
    a half-built pytorch-grad-cam object complains again when collected. A class that takes
    **kwargs is left to refuse its own."""
    parameters = inspect.signature(method_class).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    valid = sorted({p.name for p in parameters} - ours)
    for key in options:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise AdapterError(
                f"{library} {method_class.__name__} takes no option {key!r}; {hint}"
                f"its options are: {', '.join(valid) or 'none'}"
            )


class _ClassScore:
    """pytorch-grad-cam target of image `index`: its logit of the class our resolution picked.

    The class is looked up when the library applies the target, after its first forward pass, which
    is where our resolution runs (see PytorchGradCAM.__call__).
    """

    def __init__(self, classes: list[torch.Tensor], index: int) -> None:
        self.classes, self.index = classes, index

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return output[..., self.classes[0][self.index]]


class PytorchGradCAM:
    """`method=pytorch_grad_cam method.name=<class>`: pytorch-grad-cam's `<class>` on our protocol.

    Not a CAMMethod: the library makes its own first forward pass, so the base's would be counted
    twice. A forward hook on the counted model resolves the classes from that pass, and the targets
    handed to the library read them. The library object (and its layer hooks, which keep every
    activation they see) lives only for the duration of a call. pytorch-grad-cam returns maps
    already resized (cv2 bilinear, the same half-pixel rule as ours) and min-max scaled; ours
    re-normalises (a no-op up to rounding). `options` go to the class's constructor; `chunk_size`
    becomes its `batch_size` (read by its Score-CAM and Ablation-CAM).
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module,
        class_name: str,
        options: dict[str, Any] | None = None,
        chunk_size: int = 64,
    ) -> None:
        library = _import_library("pytorch_grad_cam", "grad-cam")
        base = importlib.import_module("pytorch_grad_cam.base_cam").BaseCAM
        methods = {
            name: value for name, value in vars(library).items()
            if inspect.isclass(value) and issubclass(value, base) and value is not base
        }
        self.method_class = _pick_class("pytorch-grad-cam", methods, class_name)
        self.options = dict(options or {})
        _check_options("pytorch-grad-cam", self.method_class, self.options, PYTORCH_GRAD_CAM_OWN)
        self.model = counted(model)
        self.layer = resolve_layer(self.model.model, target_layer)
        self.chunk_size = chunk_size
        self.setup_cost = Cost()
        self._release(self._library_cam())  # bad options fail here, not on the first batch

    def _library_cam(self) -> Any:
        cam = self.method_class(model=self.model, target_layers=[self.layer], **self.options)
        cam.batch_size = self.chunk_size
        return cam

    @staticmethod
    def _release(cam: Any) -> None:
        cam.activations_and_grads.release()

    def __call__(
        self, images: torch.Tensor, targets: torch.Tensor | Sequence[int] | int | None = None
    ) -> Explanation:
        if images.ndim != 4:
            raise ValueError(f"images must be a (B, C, H, W) batch, got {tuple(images.shape)}")
        classes: list[torch.Tensor] = []

        def resolve(module: nn.Module, inputs: tuple, logits: torch.Tensor) -> None:
            if not classes:
                classes.append(resolve_targets(logits.detach(), targets))

        cam = self._library_cam()
        handle = self.model.register_forward_hook(resolve)
        try:
            with self.model.measure() as cost:
                needs_gradients = bool(getattr(cam, "uses_gradients", True))
                raw = cam(
                    images.detach().requires_grad_(needs_gradients),
                    targets=[_ClassScore(classes, b) for b in range(len(images))],
                )
                raw = torch.as_tensor(raw, device=images.device).float()
                maps = minmax_normalize(upsample(raw, images.shape[-2:]), over=(-2, -1))
        finally:
            handle.remove()
            self._release(cam)
        return Explanation(maps=maps, classes=classes[0], cost=cost.per_image(len(images)))


class TorchCAM(CAMMethod):
    """`method=torchcam method.name=<class>`: torchcam's `<class>` on our protocol.

    torchcam computes from the forward pass its hooks saw, so it shares the base's single pass; the
    library object and its hooks live only for the duration of a call. Maps are taken unnormalised
    at layer resolution, then go through our upsampling and normalisation. `options` go to the
    class's constructor (e.g. `fc_layer` for CAM); `chunk_size` becomes its `batch_size` where it
    takes one.
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module,
        class_name: str,
        options: dict[str, Any] | None = None,
        chunk_size: int = 64,
    ) -> None:
        super().__init__(model, target_layer, chunk_size)
        _import_library("torchcam", "torchcam")
        methods_module = importlib.import_module("torchcam.methods")
        base = importlib.import_module("torchcam.methods.core")._CAM
        methods = {
            name: value for name, value in vars(methods_module).items()
            if inspect.isclass(value) and issubclass(value, base) and value is not base
        }
        method_class = _pick_class("torchcam", methods, class_name)
        gradient_based = importlib.import_module("torchcam.methods.gradient").__all__
        self.needs_gradients = class_name in gradient_based
        self.method_class = method_class
        self.options = dict(options or {})
        if "batch_size" in inspect.signature(method_class).parameters:
            self.options.setdefault("batch_size", chunk_size)
        self._library_cam().remove_hooks()  # bad options fail here, not on the first batch
        self._extractor: Any = None

    def _library_cam(self) -> Any:
        return self.method_class(self.model, self.layer, **self.options)

    def __call__(
        self, images: torch.Tensor, targets: torch.Tensor | Sequence[int] | int | None = None
    ) -> Explanation:
        self._extractor = self._library_cam()
        try:
            return super().__call__(images, targets)
        finally:
            self._extractor.remove_hooks()
            self._extractor = None

    def saliency(
        self,
        images: torch.Tensor,
        classes: torch.Tensor,
        logits: torch.Tensor,
        activations: torch.Tensor,
    ) -> torch.Tensor:
        (cam,) = self._extractor(class_idx=classes.tolist(), scores=logits, normalized=False)
        return cam
