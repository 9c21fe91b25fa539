"""clustercam-bench floor 1: Cluster-CAM and the machinery every explanation method shares.

The bench above it (data sets, model zoo, experiment loop, records, report) is `clustercam.bench`.
"""

from clustercam.cam_method import CAMMethod, Explanation, capture_output
from clustercam.cluster_cam import ClusterCAM
from clustercam.cost import Cost, CostCounter
from clustercam.overlay import overlay

__all__ = [
    "CAMMethod",
    "ClusterCAM",
    "Cost",
    "CostCounter",
    "Explanation",
    "capture_output",
    "overlay",
]
