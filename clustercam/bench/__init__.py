"""The bench (floor 3): data sets, model zoo, experiment loop, run records and the report.

It builds on the methods (`clustercam`, `baselines`) and the metrics (`metrics`); nothing below
imports it. `clustercam.bench.report` needs matplotlib and is imported only by the report command.
"""

from clustercam.bench.data import Sample, bundled_samples, load_image
from clustercam.bench.zoo import MODELS, WeightsUnavailableError, ZooModel, load_model

__all__ = [
    "MODELS",
    "Sample",
    "WeightsUnavailableError",
    "ZooModel",
    "bundled_samples",
    "load_image",
    "load_model",
]
