"""Reimplemented baselines, each a small subclass of clustercam.CAMMethod, and adapters that run
pytorch-grad-cam or torchcam methods under this benchmark's protocol."""

from baselines.ablationcam import AblationCAM
from baselines.adapters import AdapterError, PytorchGradCAM, TorchCAM
from baselines.eigencam import EigenCAM
from baselines.gradcam import GradCAM
from baselines.gradcampp import GradCAMPlusPlus
from baselines.groupcam import GroupCAM
from baselines.layercam import LayerCAM
from baselines.rise import RISE
from baselines.sanity import CenterMap, RandomMap
from baselines.scorecam import ScoreCAM
from baselines.sscam import SSCAM

__all__ = [
    "RISE",
    "SSCAM",
    "AblationCAM",
    "AdapterError",
    "CenterMap",
    "EigenCAM",
    "GradCAM",
    "GradCAMPlusPlus",
    "GroupCAM",
    "LayerCAM",
    "PytorchGradCAM",
    "RandomMap",
    "ScoreCAM",
    "TorchCAM",
]
