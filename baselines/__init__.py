"""Reimplemented baselines, each a small subclass of clustercam.CAMMethod."""

from baselines.gradcam import GradCAM
from baselines.gradcampp import GradCAMPlusPlus
from baselines.sanity import CenterMap, RandomMap
from baselines.scorecam import ScoreCAM

__all__ = ["CenterMap", "GradCAM", "GradCAMPlusPlus", "RandomMap", "ScoreCAM"]
from baselines.adapters import AdapterError, PytorchGradCAM, TorchCAM
from baselines.eigencam import EigenCAM
from baselines.layercam import LayerCAM
from baselines.sscam import SSCAM

__all__ += ["SSCAM", "AdapterError", "EigenCAM", "LayerCAM", "PytorchGradCAM", "TorchCAM"]
