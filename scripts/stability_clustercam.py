"""How stable are Cluster-CAM's maps? Agreement across seeds, input noise and a device proxy.

For each Cluster-CAM variant (clustering options only; K, score and cognition stay the default,
and each variant names its `init`, so a change of default does not rename what is measured),
on EfficientNet-Lite0 and the bundled photos:
- seeds: the maps of seeds 1..S-1 against seed 0's, on the same input;
- noise: seed 0 on the image plus Gaussian noise of `--noise` grey levels (pixel space) against
  seed 0 on the clean image;
- device: seed 0 with the target layer's activations multiplied by (1 + 1e-6 * N(0, 1)), a proxy
  for CPU-against-GPU rounding, against seed 0.
Agreement is the Spearman rank correlation of the 224x224 maps and the IoU of their top-15% pixels;
with `--auc`, also the spread (max - min) of each image's insertion AUC (preset fast) over the
seed and device runs. Masked forward passes are shared between runs whose clusters coincide, so
stable variants cost less.

    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 python scripts/stability_clustercam.py --auc
writes results/stability_clustercam.md and .csv.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from tqdm import tqdm

from clustercam import ClusterCAM
from clustercam.base import capture_output
from clustercam.bench.data import bundled_samples, load_image
from clustercam.bench.zoo import load_model
from clustercam.ops import minmax_normalize, upsample
from metrics import insertion

VARIANTS: dict[str, dict[str, object]] = {
    "sklearn n_init=4 (old default)": {"clustering": "kmeans_sklearn", "n_init": 4},
    "k-means++ n_init=4": {"init": "k-means++", "n_init": 4},
    "k-means++ n_init=16": {"init": "k-means++", "n_init": 16},
    "k-means++ n_init=64": {"init": "k-means++", "n_init": 64},
    "k-means++ n_init=4 float64": {
        "init": "k-means++", "n_init": 4, "cluster_precision": "float64",
    },
    "k-means++ n_init=16 float64": {
        "init": "k-means++", "n_init": 16, "cluster_precision": "float64",
    },
    "k-means++ n_init=16 consensus": {"init": "k-means++", "n_init": 16, "select": "consensus"},
    "farthest": {"init": "farthest"},
    "farthest float64": {"init": "farthest", "cluster_precision": "float64"},
}
TOP_FRACTION = 0.15
DEVICE_JITTER = 1e-6


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Rank correlation; 1 for two constant maps, 0 for a constant map against a varying one."""
    constant_a, constant_b = bool(a.max() == a.min()), bool(b.max() == b.min())
    if constant_a or constant_b:
        return float(constant_a and constant_b)
    return float(spearmanr(a.flatten().numpy(), b.flatten().numpy()).statistic)


def top_iou(a: torch.Tensor, b: torch.Tensor) -> float:
    n_top = int(TOP_FRACTION * a.numel())
    top_a = torch.zeros(a.numel(), dtype=torch.bool)
    top_b = torch.zeros(a.numel(), dtype=torch.bool)
    top_a[a.flatten().topk(n_top).indices] = True
    top_b[b.flatten().topk(n_top).indices] = True
    return float((top_a & top_b).sum() / (top_a | top_b).sum())


class Runner:
    """Cluster-CAM maps from given activations, with masked-pass scores memoised per clustering."""

    def __init__(self, model, layer: str, images: torch.Tensor, chunk_size: int) -> None:
        self.model, self.layer, self.chunk_size = model, layer, chunk_size
        self.images = images
        self.scores: dict[tuple, torch.Tensor] = {}
        self.aucs: dict[bytes, float] = {}
        self.n_forward = 0

    def activations(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad(), capture_output(self.model.get_submodule(self.layer)) as hooked:
            logits = self.model(images)
        return hooked.output.float(), logits.argmax(1)

    def maps(
        self, method: ClusterCAM, key: str, images: torch.Tensor, activations: torch.Tensor,
        classes: torch.Tensor,
    ) -> tuple[torch.Tensor, float]:
        """(B, H, W) maps exactly as method(images) computes them; seconds of the clustering."""
        start = time.perf_counter()
        means, found = method.cluster_means(activations)
        n_found = found.sum(1).tolist()
        seconds = time.perf_counter() - start
        scores = []
        for b, (image_means, n) in enumerate(zip(means, n_found)):
            memo = (key, b, image_means[:n].numpy().tobytes())
            if memo not in self.scores:
                self.scores[memo] = method.score_masks(
                    images[b : b + 1], [image_means[:n]], classes[b : b + 1]
                )[0]
                self.n_forward += n
            scores.append(self.scores[memo])
        raw = method.combine(means, method.score_table(scores, found), found, classes)
        full = minmax_normalize(upsample(raw, images.shape[-2:]))
        return full, seconds

    def insertion_auc(self, images: torch.Tensor, maps: torch.Tensor, classes: torch.Tensor):
        metric = insertion("fast")
        out = []
        for b in range(len(maps)):
            memo = maps[b].numpy().tobytes()
            if memo not in self.aucs:
                result = metric(
                    self.model, images[b : b + 1], maps[b : b + 1], classes[b : b + 1],
                    chunk_size=self.chunk_size,
                )
                self.aucs[memo] = float(result.auc[0])
            out.append(self.aucs[memo])
        return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS),
        help="Cluster-CAM variants to measure (default: all)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, default=5, help="k-means seeds per photo")
    parser.add_argument("--noise", type=float, default=1.0, help="sigma in grey levels of 255")
    parser.add_argument("--noise-draws", type=int, default=1, help="noisy copies per photo")
    parser.add_argument("--images", type=int, default=22, help="bundled photos to use")
    parser.add_argument("--auc", action="store_true", help="insertion-AUC spread (more passes)")
    parser.add_argument("--chunk-size", type=int, default=8, help="masked images per forward")
    parser.add_argument(
        "--out", type=Path, default=Path("results/stability_clustercam"), help="output folder"
    )
    args = parser.parse_args()
    torch.set_grad_enabled(False)

    zoo = load_model("efficientnet_lite0")
    samples = bundled_samples()[: args.images]
    clean = torch.stack([zoo.transform(load_image(s.path)) for s in samples])
    std = torch.tensor(zoo.transform.transforms[-1].std)[None, :, None, None]
    generator = torch.Generator().manual_seed(1234)
    inputs = {"clean": clean}
    for draw in range(args.noise_draws):
        noise = torch.randn(clean.shape, generator=generator) * (args.noise / 255) / std
        inputs[f"noise{draw}"] = clean + noise
    runner = Runner(zoo.model, zoo.target_layer, clean, args.chunk_size)
    acts = {name: runner.activations(x) for name, x in inputs.items()}
    classes = acts["clean"][1]
    jitter = torch.randn(acts["clean"][0].shape, generator=generator)
    device_acts = acts["clean"][0] * (1 + DEVICE_JITTER * jitter)

    check = ClusterCAM(zoo.model, zoo.target_layer, n_clusters=8, chunk_size=args.chunk_size)
    expected = check(clean[:2], targets=classes[:2]).maps
    got, _ = runner.maps(check, "clean", clean[:2], acts["clean"][0][:2], classes[:2])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)  # the method's own maps

    rows = []
    per_image = []
    for name in tqdm(args.variants, desc="variants"):
        options = VARIANTS[name]
        seconds, n_clusterings = 0.0, 0
        forwards_before = runner.n_forward

        def run(seed: int, key: str, x: torch.Tensor, activations: torch.Tensor, options=options):
            nonlocal seconds, n_clusterings
            method = ClusterCAM(
                zoo.model, zoo.target_layer, n_clusters=8, seed=seed,
                chunk_size=args.chunk_size, **options,
            )
            method.prepare(x)  # the blank image's scores of the default (baseline) cognition
            maps, took = runner.maps(method, key, x, activations, classes)
            seconds += took
            n_clusterings += len(x)
            return maps

        reference = run(0, "clean", clean, acts["clean"][0])
        comparisons: dict[str, list[torch.Tensor]] = {"seeds": [], "noise": [], "device": []}
        for seed in range(1, args.seeds):
            comparisons["seeds"].append(run(seed, "clean", clean, acts["clean"][0]))
        for draw in range(args.noise_draws):
            key = f"noise{draw}"
            comparisons["noise"].append(run(0, key, inputs[key], acts[key][0]))
        comparisons["device"].append(run(0, "device", clean, device_acts))

        row: dict[str, object] = {"variant": name}
        for kind, runs in comparisons.items():
            images = range(len(clean))
            rho = np.array([[spearman(reference[b], m[b]) for b in images] for m in runs])
            iou = np.array([[top_iou(reference[b], m[b]) for b in images] for m in runs])
            row[f"{kind} spearman median"] = float(np.median(rho))
            row[f"{kind} spearman min"] = float(rho.min())
            row[f"{kind} iou median"] = float(np.median(iou))
            for b in range(len(clean)):
                per_image.append({
                    "variant": name, "comparison": kind, "image": samples[b].image_id,
                    "spearman_min": float(rho[:, b].min()), "iou_min": float(iou[:, b].min()),
                })
        if args.auc:
            same_input = [reference, *comparisons["seeds"], *comparisons["device"]]
            aucs = np.stack([runner.insertion_auc(clean, m, classes) for m in same_input])
            spread = aucs.max(0) - aucs.min(0)
            row["insertion AUC spread median"] = float(np.median(spread))
            row["insertion AUC spread max"] = float(spread.max())
        row["clustering s/image"] = seconds / n_clusterings
        row["masked passes run"] = runner.n_forward - forwards_before
        rows.append(row)
        print(row, flush=True)

    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out.with_suffix(".csv"), index=False)
    per_image_csv = args.out.with_name(args.out.name + "_per_image.csv")
    pd.DataFrame(per_image).to_csv(per_image_csv, index=False)
    header = (
        f"# Cluster-CAM stability (EfficientNet-Lite0, {len(clean)} bundled photos, K=8)\n\n"
        f"Seeds 1..{args.seeds - 1} against seed 0; noise: {args.noise_draws} draw(s) of "
        f"Gaussian sigma {args.noise}/255 in pixel space; device: activations x (1 + "
        f"{DEVICE_JITTER:g} N(0,1)). Spearman of the 224x224 maps, IoU of their top "
        f"{TOP_FRACTION:.0%}. Clustering seconds are CPU (2 shared cores), per image.\n\n"
        f"Command: `PYTHONPATH=$PWD HF_HUB_OFFLINE=1 python {shlex.join(sys.argv)}`\n\n"
    )
    markdown = table.to_markdown(index=False, floatfmt=".3f")
    args.out.with_suffix(".md").write_text(header + markdown + "\n")
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
