"""Metrics of saliency maps (docs/metrics.md), usable on maps from any library.

Faithfulness metrics take any nn.Module and score perturbed images only through
`clustercam.scoring.class_scores`; wrap the model with `clustercam.cost.counted` to measure a
metric's own forward passes and seconds apart from the method's. ROAD imputes the removed
pixels (a sparse solve on the CPU, timed apart). ADCC and max-sensitivity call the method again
(any callable that returns maps) and count that cost apart. Complexity and localisation need no
forward pass. Invalid maps (constant, NaN) give NaN results and cost nothing.
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
from metrics.localization import (
    CAM_THRESHOLD,
    IOU_THRESHOLD,
    POINTING_TOLERANCE,
    TIES,
    BoxLocalizationResult,
    as_boxes,
    box_iou,
    box_localization,
    box_mask,
    box_masks,
    covers_pixels,
    empty_regions,
    energy_pointing_game,
    largest_component_box,
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
)
from metrics.road import ROADResult, road
from metrics.robustness import (
    QUANTUS_RADIUS,
    QUANTUS_SAMPLES,
    SensitivityResult,
    max_sensitivity,
    perturbed_images,
)
from metrics.validity import invalid_maps

__all__ = [
    "CAM_THRESHOLD",
    "IOU_THRESHOLD",
    "MODES",
    "POINTING_TOLERANCE",
    "PRESETS",
    "QUANTUS_RADIUS",
    "QUANTUS_SAMPLES",
    "QUANTUS_SPARSENESS_EPSILON",
    "TIES",
    "ADCCResult",
    "ADCCSummary",
    "BoxLocalizationResult",
    "CausalMetric",
    "CausalPreset",
    "CausalResult",
    "ConfidenceResult",
    "ConfidenceSummary",
    "Explainer",
    "ROADResult",
    "SensitivityResult",
    "adcc",
    "as_boxes",
    "auc",
    "average_gain_values",
    "box_iou",
    "box_localization",
    "box_mask",
    "box_masks",
    "complexity",
    "confidence",
    "covers_pixels",
    "deletion",
    "empty_regions",
    "energy_pointing_game",
    "entropy",
    "explain",
    "explanation_masks",
    "gain",
    "gain_from_confidence",
    "gini",
    "harmonic_adcc",
    "insertion",
    "invalid_maps",
    "largest_component_box",
    "max_sensitivity",
    "method_counter",
    "pearson",
    "perturbed_images",
    "pointing_game",
    "preset",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
    "road",
    "sparseness",
    "summarize_adcc",
    "summarize_auc",
    "summarize_confidence",
    "summarize_values",
]
