"""Draws the hand-drawn boxes of the bundled photos on the photos, to check them by eye.

python scripts/show_boxes.py --out results/localization/bundled_boxes.png
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.patches import Rectangle
from PIL import Image

from clustercam.bench.boxes import BUNDLED_BOXES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=Path, default=BUNDLED_BOXES, help="the boxes CSV")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--columns", type=int, default=6, help="photos per row")
    args = parser.parse_args()
    boxes = pd.read_csv(args.boxes)
    files = list(dict.fromkeys(boxes["file"]))
    rows = math.ceil(len(files) / args.columns)
    figure, axes = plt.subplots(rows, args.columns, figsize=(3 * args.columns, 2.4 * rows))
    for axis in axes.flat:
        axis.axis("off")
    for axis, file in zip(axes.flat, files):
        axis.imshow(Image.open(args.boxes.parent / file).convert("RGB"))
        axis.set_title(Path(file).stem, fontsize=9)
        for row in boxes[boxes["file"] == file].itertuples():
            width, height = row.x_max - row.x_min, row.y_max - row.y_min
            axis.add_patch(Rectangle((row.x_min, row.y_min), width, height, fill=False, lw=2,
                                     edgecolor="yellow"))  # fmt: skip
            axis.text(row.x_min + 3, row.y_min + 3, row.object, color="black", fontsize=7,
                      va="top", bbox={"facecolor": "yellow", "pad": 1, "lw": 0})  # fmt: skip
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
