"""Faithfulness metrics of saliency maps (docs/metrics.md); pure: they know nothing of methods.

Every metric takes any nn.Module and scores perturbed images only through
`clustercam.scoring.class_scores`; wrap the model with `clustercam.cost.counted` to measure a
metric's own forward passes and seconds apart from the method's. Invalid maps (constant, NaN)
give NaN results and cost nothing.
"""

from metrics.adcc import ADCCResult, ADCCSummary, adcc, harmonic_adcc, pearson, summarize_adcc
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
from metrics.complexity import (
    QUANTUS_SPARSENESS_EPSILON,
    complexity,
    entropy,
    gini,
    sparseness,
    summarize_values,
)
from metrics.confidence import (
    MODES,
    ConfidenceResult,
    ConfidenceSummary,
    confidence,
    explanation_masks,
    summarize_confidence,
)
from metrics.explainers import Explainer, explain, method_counter
from metrics.gain import average_gain_values, gain, gain_from_confidence
from metrics.robustness import (
    QUANTUS_RADIUS,
    QUANTUS_SAMPLES,
    SensitivityResult,
    max_sensitivity,
    perturbed_images,
)
from metrics.validity import invalid_maps

__all__ = [
    "MODES",
    "PRESETS",
    "QUANTUS_RADIUS",
    "QUANTUS_SAMPLES",
    "QUANTUS_SPARSENESS_EPSILON",
    "ADCCResult",
    "ADCCSummary",
    "CausalMetric",
    "CausalPreset",
    "CausalResult",
    "ConfidenceResult",
    "ConfidenceSummary",
    "Explainer",
    "SensitivityResult",
    "adcc",
    "auc",
    "average_gain_values",
    "complexity",
    "confidence",
    "deletion",
    "entropy",
    "explain",
    "explanation_masks",
    "gain",
    "gain_from_confidence",
    "gini",
    "harmonic_adcc",
    "insertion",
    "invalid_maps",
    "max_sensitivity",
    "method_counter",
    "pearson",
    "perturbed_images",
    "preset",
    "sparseness",
    "summarize_adcc",
    "summarize_auc",
    "summarize_confidence",
    "summarize_values",
]
