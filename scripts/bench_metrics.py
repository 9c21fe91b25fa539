"""How close the deletion/insertion metrics run to the forward-pass floor on a real model.

floor = (forward passes the metrics spent per image) x (best per-image forward time of the model
at the same batch size, measured in this run). Both are measured side by side, so the ratio is
meaningful on a noisy machine even when the absolute seconds are not.

    python scripts/bench_metrics.py --images 4 --preset rise --out results/bench_metrics.md
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch

from baselines import GradCAM
from clustercam.bench import bundled_samples, load_image, load_model
from clustercam.bench.timing import floor_seconds
from clustercam.cost import counted
from metrics import deletion, insertion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0", help="a model of the zoo")
    parser.add_argument("--images", type=int, default=4, help="bundled photos to score")
    parser.add_argument("--preset", default="rise", help="metrics preset: fast, rise, ...")
    parser.add_argument("--chunk-size", type=int, default=16, help="perturbed images per forward")
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results/bench_metrics.md"), help="the table written"
    )
    args = parser.parse_args()

    zoo_model = load_model(args.model, device=args.device)
    samples = bundled_samples()[: args.images]
    images = torch.stack([zoo_model.transform(load_image(s.path)) for s in samples])
    images = images.to(args.device)
    explanation = GradCAM(zoo_model.model, zoo_model.target_layer)(images)
    counter = counted(zoo_model.model)
    with torch.inference_mode():
        original = counter(images).softmax(1).gather(1, explanation.classes[:, None])[:, 0]

    rows = []
    for metric in (deletion(args.preset), insertion(args.preset)):
        with counter.measure() as cost:
            ends = metric.endpoints(counter, images, explanation.classes, args.chunk_size, original)
            metric(counter, images, explanation.maps, explanation.classes, ends, args.chunk_size)
        rows.append((metric.kind, cost.per_image(len(images))))
    # The first image repeated to a batch of chunk-size: the batch the metrics' passes run at.
    floor_per_forward = floor_seconds(zoo_model.model, images[:1], args.chunk_size)

    lines = [
        f"# Metric cost per image: {args.model}, preset `{args.preset}`",
        "",
        f"Command: `python scripts/bench_metrics.py --model {args.model} --images {args.images} "
        f"--preset {args.preset} --chunk-size {args.chunk_size} --device {args.device}`  ",
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, device {args.device}, torch {torch.__version__}."
        f"  \nBest forward time at batch {args.chunk_size}: "
        f"{1000 * floor_per_forward:.2f} ms per image.",
        "",
        "| metric | forwards / image | seconds / image | floor (s) | seconds / floor |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, cost in rows:
        floor = cost.forward * floor_per_forward
        lines.append(
            f"| {kind} | {cost.forward:.0f} | {cost.seconds:.2f} | {floor:.2f} | "
            f"{cost.seconds / floor:.2f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
