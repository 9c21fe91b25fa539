"""CF-CAM and Opti-CAM against their authors' code on EfficientNet-Lite0 (`bn2`), top-1 class:
Pearson correlation of the two 224 x 224 maps per bundled photo.

    git clone https://github.com/jerryp-hfut/CF-CAM
    git clone https://github.com/hanwei0912/OptiCAM
    PYTHONPATH=CF-CAM:OptiCAM python scripts/rival_agreement.py [--photos 22] [--opticam-photos 2]

The authors' modules (`cfcam`, `util`) are imported from those checkouts; nothing of them is
vendored. Their maps are normalised as ours
(min-max) before the comparison, because CF-CAM's code divides by the maximum only.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import sys
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

from baselines import CFCAM, OptiCAM
from clustercam.bench import bundled_samples, load_image, load_model
from clustercam.map_ops import minmax_normalize


class LayerOutput:
    """What Opti-CAM's util.py imports as `activations_and_gradients.ActivationsAndGradients`
    (a copy of pytorch-grad-cam's that takes one layer): calling it runs the model and keeps the
    layer's output in `activations`."""

    def __init__(self, model: nn.Module, layer: nn.Module, _reshape: object) -> None:
        self.model, self.activations = model, []
        layer.register_forward_hook(lambda _m, _i, output: self.activations.append(output.detach()))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.activations = []
        return self.model(x)


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(np.corrcoef(a.flatten().double().numpy(), b.flatten().double().numpy())[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=22, help="photos for CF-CAM")
    parser.add_argument("--opticam-photos", type=int, default=2, help="photos for Opti-CAM")
    parser.add_argument(
        "--out", type=Path, default=Path("results/rival_agreement.md"), help="the Markdown table"
    )
    args = parser.parse_args()
    zoo = load_model("efficientnet_lite0")
    model, layer = zoo.model.eval(), zoo.model.get_submodule(zoo.target_layer)
    samples = bundled_samples()[: args.photos]
    lines = [
        "| method | photo | class | Pearson with the authors' code | note |",
        "|---|---|---|---:|---|",
    ]

    reference_cfcam = importlib.import_module("cfcam").CFCAM
    with contextlib.redirect_stdout(io.StringIO()):
        theirs_cf = reference_cfcam(model, layer)
    ours_cf = CFCAM(model, zoo.target_layer)
    sys.modules["activations_and_gradients"] = types.SimpleNamespace(  # type: ignore[assignment]
        ActivationsAndGradients=LayerOutput
    )
    opti = importlib.import_module("util")
    ours_opti = OptiCAM(model, zoo.target_layer)
    for index, sample in enumerate(samples):
        image = zoo.transform(load_image(sample.path))[None]
        ours = ours_cf(image)
        target = int(ours.classes[0])
        cam, _, _ = theirs_cf(image, class_idx=target)
        their_map = minmax_normalize(torch.as_tensor(cam)[None], over=(-2, -1))[0]
        r = pearson(ours.maps[0], their_map)
        lines.append(f"| CF-CAM | {sample.image_id} | {target} | 1 - {1 - r:.1e} | |")
        print(lines[-1], flush=True)
        if index >= args.opticam_photos:
            continue
        mine = ours_opti(image, targets=target).maps[0]
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            authors = opti.Basic_OptCAM(
                model, "cpu", max_iter=50, learning_rate=0.1, target_layer=layer,
                name_f="logit_predict", name_loss="plain", name_norm="max_min", name_mode="resnet",
            )  # the defaults of their generate_opticam.py
            their_opti, _ = authors(image, torch.tensor([target]))
        stopped = "stopped early" if "stopped" in stdout.getvalue() else "all 50 steps"
        r = pearson(mine, their_opti.detach()[0, 0])
        note = f"theirs: {stopped}"
        lines.append(f"| Opti-CAM | {sample.image_id} | {target} | 1 - {1 - r:.1e} | {note} |")
        print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
