"""Sanity check by cascading parameter randomisation (clustercam/bench/randomization.py).

EfficientNet-Lite0, the first `--images` bundled photos: each method's maps on copies of the
model whose blocks are re-drawn one at a time from the top (classifier) down, compared with its
maps on the trained model (Spearman, SSIM).

    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 python scripts/sanity_randomization.py --images 3
writes results/table_sanity_randomization.md / .csv (and _per_image.csv) and
results/fig_sanity_randomization.png.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch

from clustercam.bench import randomization
from clustercam.bench.data import bundled_samples, load_image
from clustercam.bench.method_registry import Stated, build_method
from clustercam.bench.zoo import load_model

# Every method checked, by report name: its config (configs/method/) and what this check changes.
STATED: dict[str, Stated] = {
    **{name: (name, {}) for name in (
        "gradcam", "gradcampp", "layercam", "eigencam", "scorecam", "groupcam", "ablationcam",
        "clustercam",
    )},
    "clustercam_centered": ("clustercam", {"cognition": "centered"}),
    "random": ("random", {}),
    "center": ("center", {}),
}  # fmt: skip


def makers(layer: str, chunk: int) -> dict[str, randomization.MakeMethodForModel]:
    """Each method of STATED, built on the model it is given (seed 0)."""
    return {
        name: lambda net, stated=stated: build_method(stated, net, layer, 0, chunk)
        for name, stated in STATED.items()
    }


def figure(rows: pd.DataFrame, path: Path) -> None:
    """Median Spearman and SSIM with the original maps against the blocks randomised so far."""
    _, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    blocks = rows.drop_duplicates("step").sort_values("step")["block"].tolist()
    for method, group in rows.groupby("method", sort=False):
        medians = group.groupby("step")[["spearman", "ssim"]].median()
        for axis, column in zip(axes, ("spearman", "ssim")):
            axis.plot(medians.index, medians[column], marker="o", label=method)
    for axis, label in zip(axes, ("Spearman with original map", "SSIM with original map")):
        axis.set_ylabel(label)
        axis.set_xticks(range(1, len(blocks) + 1), blocks, rotation=70, fontsize=7)
        axis.set_xlabel("randomised down to (top first)")
        axis.set_ylim(-0.3, 1.05)
    axes[1].legend(fontsize=7)
    plt.tight_layout()
    plt.savefig(path, dpi=120)
    plt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=3, help="the first N bundled photos")
    parser.add_argument(
        "--methods", nargs="*", default=None, help="only these methods (default: all)"
    )
    parser.add_argument("--chunk-size", type=int, default=16, help="masked images per forward pass")
    parser.add_argument(
        "--out", type=Path, default=Path("results"), help="folder of the tables and the figure"
    )
    args = parser.parse_args()
    zoo = load_model("efficientnet_lite0")
    samples = bundled_samples()[: args.images]
    images = torch.stack([zoo.transform(load_image(s.path)) for s in samples])
    every = makers(zoo.target_layer, args.chunk_size)
    chosen = {name: every[name] for name in (args.methods or every)}
    rows = randomization.sanity_check(chosen, zoo.model, images, [s.image_id for s in samples])
    table = randomization.verdicts(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(args.out / "table_sanity_randomization_per_image.csv", index=False)
    table.to_csv(args.out / "table_sanity_randomization.csv", index=False)
    figure(rows, args.out / "fig_sanity_randomization.png")
    header = (
        "**Sanity check: cascading parameter randomisation** (Adebayo et al. 2018). "
        f"EfficientNet-Lite0, the first {len(samples)} bundled photos, the trained model's top-1 "
        "class. Blocks re-drawn (Gaussian with each parameter tensor's own mean and std) from the "
        "top down, cumulatively, on a copy; median over images of the Spearman and SSIM of each "
        "map with the trained model's map, after the first block (classifier) and with every "
        f"block randomised. A method passes when the final median Spearman is below "
        f"{randomization.PASS_BELOW}. Command: "
        f"`PYTHONPATH=$PWD HF_HUB_OFFLINE=1 python {shlex.join(sys.argv)}`\n\n"
    )
    markdown = table.to_markdown(index=False, floatfmt=".3f")
    (args.out / "table_sanity_randomization.md").write_text(header + markdown + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
