"""Table 6 and its figure: how stable every method's maps are (clustercam/bench/stability.py).

On EfficientNet-Lite0 and the first `--images` bundled photos: agreement (Spearman, top-15% IoU)
of each method's maps across seeds, float32 vs float64, and input noise (sigma 1/255 in pixel
space), and for the Cluster-CAM candidates of docs/cluster-cam.md
(clustercam/bench/candidates.py) also the spread of their per-image insertion and deletion AUC
(preset fast) over those runs.

    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 python scripts/stability.py --images 6
    python scripts/stability.py --device-runs RUN_CPU RUN_GPU   # saved maps of two runs

writes results/table6_stability.md / .csv, results/fig6_stability.png, the candidates' options
in results/table6_candidates.csv (or, with --device-runs,
results/table6_device.md / .csv).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch
from tqdm import tqdm

from clustercam.bench import stability
from clustercam.bench.candidates import CANDIDATES, build, write_table
from clustercam.bench.data import bundled_samples, load_image
from clustercam.bench.method_registry import Stated, build_method
from clustercam.bench.zoo import load_model
from metrics import deletion, insertion

# Few masks / noise samples on purpose: seeded methods whose spread should show, within CPU time.
RISE_MASKS = 64
SSCAM_SAMPLES = 2


# Every method but Cluster-CAM's candidates, by report name: its config and what this table changes.
STATED: dict[str, Stated] = {
    **{name: (name, {}) for name in (
        "gradcam", "gradcampp", "layercam", "eigencam", "scorecam", "groupcam", "groupcam_kmeans",
        "ablationcam", "random", "center",
    )},
    f"sscam_{SSCAM_SAMPLES}": ("sscam", {"n_samples": SSCAM_SAMPLES}),
    f"rise_{RISE_MASKS}": ("rise", {"n_masks": RISE_MASKS}),
}  # fmt: skip


def makers(layer: str, chunk: int) -> dict[str, stability.MakeSeededMethod]:
    """Every method measured, by report name; `cc_<candidate>` are Cluster-CAM's candidates."""
    made: dict[str, stability.MakeSeededMethod] = {
        name: lambda net, seed, stated=stated: build_method(stated, net, layer, seed, chunk)
        for name, stated in STATED.items()
    }
    for name in CANDIDATES:
        made[f"cc_{name}"] = lambda net, seed, name=name: build(name, net, layer, chunk, seed)
    return made


def reusable(
    saved: pd.DataFrame | None, name: str, ids: list[str], seeds: int, metric_names: list[str]
) -> pd.DataFrame | None:
    """The method's rows of an earlier run of this script when they cover the same photos, seeds
    and metrics (so adding a method or resuming an interrupted run redoes nothing), else None."""
    if saved is None or name not in set(saved["method"]):
        return None
    rows = saved[saved["method"] == name].dropna(axis=1, how="all").reset_index(drop=True)
    same_photos = set(rows["image_id"]) == set(ids)
    same_seeds = (rows["comparison"] == "seeds").sum() == (seeds - 1) * len(ids)
    if same_photos and same_seeds and set(metric_names) <= set(rows.columns):
        return rows
    return None


def auc_metrics(chunk: int) -> dict[str, stability.MetricFn]:
    def curve(kind):
        metric = (insertion if kind == "insertion" else deletion)("fast")
        return lambda net, x, maps, c: metric(net, x, maps, c, chunk_size=chunk).auc

    return {"insertion_auc": curve("insertion"), "deletion_auc": curve("deletion")}


def figure(summary: pd.DataFrame, path: Path) -> None:
    """Median Spearman per method and comparison, one group of bars per method."""
    pivot = summary.pivot(index="method", columns="comparison", values="spearman_median")
    pivot = pivot.reindex(summary["method"].unique())
    axes = pivot.plot.barh(figsize=(7, 0.35 * len(pivot) + 1.5), xlim=(-0.2, 1.05))
    axes.axvline(0.95, color="grey", linestyle=":", label="target 0.95")
    axes.set_xlabel("median Spearman of maps with the reference run")
    axes.invert_yaxis()
    axes.legend(loc="lower left", fontsize=8)
    plt.tight_layout()
    plt.savefig(path, dpi=120)
    plt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=6, help="the first N bundled photos")
    parser.add_argument(
        "--seeds", type=int, default=3,
        help="runs per method: seed 0 and seeds 1..N-1 compared with it",
    )
    parser.add_argument(
        "--methods", nargs="*", default=None,
        help="only these methods (default: all; Cluster-CAM candidates as cc_<name>)",
    )
    parser.add_argument(
        "--auc-for", nargs="*", default=[f"cc_{name}" for name in CANDIDATES],
        help="methods whose per-image AUC spread is measured too (default: the candidates)",
    )
    parser.add_argument("--chunk-size", type=int, default=16, help="masked images per forward pass")
    parser.add_argument(
        "--device-runs", nargs=2, type=Path, default=None,
        help="compare the saved maps of two run folders (e.g. CPU and GPU) instead",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results"), help="folder of the tables and the figure"
    )
    args = parser.parse_args()
    command = f"`PYTHONPATH=$PWD HF_HUB_OFFLINE=1 python {shlex.join(sys.argv)}`"
    if args.device_runs:
        rows = stability.saved_map_agreement(*args.device_runs)
        table = rows.groupby("method").agg(
            n_images=("image_id", "count"), spearman_median=("spearman", "median"),
            spearman_min=("spearman", "min"), top15_iou_median=("top15_iou", "median"),
        ).reset_index()  # fmt: skip
        table.to_csv(args.out / "table6_device.csv", index=False)
        text = f"Saved maps of {args.device_runs[0]} against {args.device_runs[1]}. {command}\n\n"
        (args.out / "table6_device.md").write_text(text + table.to_markdown(index=False) + "\n")
        print(table.to_markdown(index=False))
        return
    zoo = load_model("efficientnet_lite0")
    samples = bundled_samples()[: args.images]
    images = torch.stack([zoo.transform(load_image(s.path)) for s in samples])
    with torch.no_grad():
        classes = zoo.model(images).argmax(1)
    ids = [s.image_id for s in samples]
    every = makers(zoo.target_layer, args.chunk_size)
    chosen = args.methods or list(every)
    summaries, per_run = [], []
    header = (
        f"**Table 6: stability of the maps.** EfficientNet-Lite0, the first {len(ids)} bundled "
        f"photos, top-1 class. seeds: seeds 1..{args.seeds - 1} against seed 0 (a method "
        "without a seed is run again: its floor); precision: model and images in float64 "
        "against float32; noise: Gaussian sigma 1/255 in pixel space. Spearman of the maps "
        "(median and min over images and runs), IoU of their top 15%; `*_spread_*`: per-image "
        "max - min of the AUC (preset fast) over the reference and the comparison's runs, median "
        "and max over images (Cluster-CAM candidates only, for CPU time). Few RISE masks "
        f"({RISE_MASKS}, default 4000) and SS-CAM noise samples ({SSCAM_SAMPLES}, default 35), for "
        f"CPU time. `cc_<name>`: the Cluster-CAM candidates of clustercam/bench/candidates.py, "
        f"every option of each in {args.out / 'table6_candidates.csv'}. Methods not listed were "
        f"not run. CPU, 2 cores. Command: {command}\n\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    measured = [name.removeprefix("cc_") for name in chosen if name.startswith("cc_")]
    write_table(args.out / "table6_candidates.csv", measured)
    saved_path = args.out / "table6_stability_per_image.csv"
    saved = pd.read_csv(saved_path, dtype={"image_id": str}) if saved_path.exists() else None
    for name in tqdm(chosen, desc="stability", unit="method"):
        metrics = auc_metrics(args.chunk_size) if name in args.auc_for else {}
        rows = reusable(saved, name, ids, args.seeds, list(metrics))
        if rows is None:
            rows = stability.measure(every[name], zoo.model, images, classes, ids,
                                     seeds=args.seeds, metrics=metrics)  # fmt: skip
            rows.insert(0, "method", name)
        per_run.append(rows)
        summary = stability.summarize_stability(rows, list(metrics))
        summary.insert(0, "seeded", stability.has_seed(every[name], zoo.model))
        summary.insert(0, "method", name)
        summaries.append(summary)
        # Written after every method, so an interrupted run keeps what it measured.
        table = pd.concat(summaries, ignore_index=True)
        table.to_csv(args.out / "table6_stability.csv", index=False)
        pd.concat(per_run).to_csv(saved_path, index=False)
        markdown = table.to_markdown(index=False, floatfmt=".3f")
        (args.out / "table6_stability.md").write_text(header + markdown + "\n")
    # Drawn once: an interrupted run resumes from the per-image rows above and draws it then.
    figure(table, args.out / "fig6_stability.png")


if __name__ == "__main__":
    main()
