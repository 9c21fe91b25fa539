"""clustercam-bench: Cluster-CAM and the machinery every explanation method here shares."""

from clustercam.base import CAMMethod, Explanation, capture_output
from clustercam.cluster_cam import ClusterCAM
from clustercam.cost import Cost, CostCounter
from clustercam.data import Sample, bundled_samples, load_image
from clustercam.zoo import MODELS, WeightsUnavailableError, ZooModel, load_model

__all__ = [
    "MODELS",
    "CAMMethod",
    "ClusterCAM",
    "Cost",
    "CostCounter",
    "Explanation",
    "Sample",
    "WeightsUnavailableError",
    "ZooModel",
    "bundled_samples",
    "capture_output",
    "load_image",
    "load_model",
]
