"""Published reference numbers (docs/metrics.md) and the protocol a run must share to sit beside
them.

The numbers were recalled from the papers, not re-checked against the PDFs; every row says where
it comes from. A row is shown only beside a run of the same model and metric protocol, because
AD/IC and deletion/insertion move a lot with the model, the mask rule and the step size.
"""

from __future__ import annotations

from dataclasses import dataclass

from clustercam.bench.report.runs import Run, canonical
from metrics import PRESETS

RISE = "rise"  # the preset of the RISE paper's protocol, under which its rows were measured


@dataclass(frozen=True)
class Reference:
    """One published row: a method's numbers under one model and protocol."""

    source: str
    data: str
    model: str
    method: str
    values: dict[str, float]
    n: int | None = None
    data_contains: str | None = None

    def matches_model(self, run: Run) -> bool:
        """Same trained network (canonical name; never an untrained one) and, where the source
        needs it, the same data set."""
        if run.random_weights or canonical(run.model) != canonical(self.model):
            return False
        return self.data_contains is None or self.data_contains in run.data.lower()


SCORECAM_PAPER = "published: Wang et al. 2020 (Score-CAM)"
SCORECAM_DATA = "ILSVRC2012 val, 2000 random"
RISE_PAPER = "published: Petsiuk et al. 2018 (RISE)"
RISE_DATA = "ILSVRC2012 val"
TORCHCAM = "published: torchcam README"

# Score-CAM paper, VGG16, top-50% masks: AD% / IC%.
CONFIDENCE_REFERENCES: tuple[Reference, ...] = (
    *(
        Reference(
            SCORECAM_PAPER, SCORECAM_DATA, "vgg16", method, {"ad_top50": ad, "ic_top50": ic}, n=2000
        )
        for method, ad, ic in (
            ("Mask", 63.5, 5.29),
            ("RISE", 47.0, 14.0),
            ("Grad-CAM", 47.8, 19.6),
            ("Grad-CAM++", 45.5, 18.9),
            ("Score-CAM", 31.5, 30.6),
        )
    ),
    # torchcam reports fractions with continuous masks on Imagenette; shown here in percent.
    Reference(
        TORCHCAM,
        "Imagenette val",
        "resnet18",
        "Grad-CAM",
        {"ad_continuous": 26.86, "ic_continuous": 22.50},
        data_contains="imagenette",
    ),
)

# RISE paper, rise protocol: deletion / insertion AUC.
CAUSAL_REFERENCES: tuple[Reference, ...] = tuple(
    Reference(RISE_PAPER, RISE_DATA, model, method, {"deletion": d, "insertion": i})
    for model, method, d, i in (
        ("resnet50", "Grad-CAM", 0.1232, 0.6766),
        ("resnet50", "RISE", 0.1076, 0.7267),
        ("vgg16", "Grad-CAM", 0.1087, 0.6149),
        ("vgg16", "RISE", 0.0980, 0.6663),
    )
)


def confidence_references(run: Run) -> list[Reference]:
    """AD/IC rows for the mask modes this run scored, on its model (and data where required)."""
    modes = run.modes()
    return [
        ref
        for ref in CONFIDENCE_REFERENCES
        if ref.matches_model(run) and all(key.split("_", 1)[1] in modes for key in ref.values)
    ]


def causal_references(run: Run) -> list[Reference]:
    """Deletion/insertion rows only for the rise preset at its published step."""
    if run.preset != RISE or run.step not in (None, PRESETS[RISE].step):
        return []
    return [ref for ref in CAUSAL_REFERENCES if ref.matches_model(run)]
