"""Faithfulness metrics of saliency maps (docs/metrics.md); pure: they know nothing of methods.

Every metric takes any nn.Module and scores perturbed images only through
`clustercam.scoring.class_scores`; wrap the model with `clustercam.cost.counted` to measure a
metric's own forward passes and seconds apart from the method's. Invalid maps (constant, NaN)
give NaN results and cost nothing.
"""

from metrics.causal import (
    PRESETS,
    CausalMetric,
    CausalPreset,
    CausalResult,
    auc,
    deletion,
    insertion,
    preset,
    summarize_auc,
)
from metrics.confidence import (
    MODES,
    ConfidenceResult,
    ConfidenceSummary,
    confidence,
    explanation_masks,
    summarize_confidence,
)
from metrics.validity import invalid_maps

__all__ = [
    "MODES",
    "PRESETS",
    "CausalMetric",
    "CausalPreset",
    "CausalResult",
    "ConfidenceResult",
    "ConfidenceSummary",
    "auc",
    "confidence",
    "deletion",
    "explanation_masks",
    "insertion",
    "invalid_maps",
    "preset",
    "summarize_auc",
    "summarize_confidence",
]
