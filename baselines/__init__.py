"""Reimplemented baselines, each a small subclass of clustercam.CAMMethod."""

from baselines.gradcam import GradCAM
from baselines.gradcampp import GradCAMPlusPlus
from baselines.sanity import CenterMap, RandomMap
from baselines.scorecam import ScoreCAM

__all__ = ["CenterMap", "GradCAM", "GradCAMPlusPlus", "RandomMap", "ScoreCAM"]
from baselines.ablationcam import AblationCAM
from baselines.groupcam import GroupCAM
from baselines.rise import RISE

__all__ += ["RISE", "AblationCAM", "GroupCAM"]
