"""Reimplemented baselines, each a small subclass of clustercam.CAMMethod, and adapters that run
pytorch-grad-cam or torchcam methods under this benchmark's protocol."""

from baselines.ablationcam import AblationCAM
from baselines.adapters import AdapterError, PytorchGradCAM, TorchCAM
from baselines.cfcam import CFCAM
from baselines.eigencam import EigenCAM
from baselines.fake import FakeMap
from baselines.fem import FEM
from baselines.gradcam import GradCAM
from baselines.gradcampp import GradCAMPlusPlus
from baselines.groupcam import GroupCAM
from baselines.hirescam import HiResCAM
from baselines.kpcacam import KPCACAM
from baselines.layercam import LayerCAM
from baselines.opticam import OptiCAM
from baselines.reciprocam import ReciproCAM
from baselines.rise import RISE
from baselines.sanity import CenterMap, RandomMap
from baselines.scorecam import ScoreCAM
from baselines.sscam import SSCAM
from baselines.xgradcam import XGradCAM

__all__ = [
    "CFCAM",
    "FEM",
    "KPCACAM",
    "RISE",
    "SSCAM",
    "AblationCAM",
    "AdapterError",
    "CenterMap",
    "EigenCAM",
    "FakeMap",
    "GradCAM",
    "GradCAMPlusPlus",
    "GroupCAM",
    "HiResCAM",
    "LayerCAM",
    "OptiCAM",
    "PytorchGradCAM",
    "RandomMap",
    "ReciproCAM",
    "ScoreCAM",
    "TorchCAM",
    "XGradCAM",
]
