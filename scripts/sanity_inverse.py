"""Does each method's map beat its own inverse (1 - map)? A sanity check of the metrics.

Reads the saved maps of a run (`save_maps=true`), scores each map and its inverse with deletion
and insertion, and writes a Markdown table: mean AUCs and on how many images the map wins.

    python scripts/sanity_inverse.py results/embedded/compare_fast --preset fast \
        --out results/sanity_inverse.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm import tqdm

from clustercam.bench import load_image, load_model
from clustercam.bench.records import read_per_image
from metrics import deletion, insertion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run folder with save_maps=true")
    parser.add_argument("--preset", default="fast", help="metrics preset: fast, rise, ...")
    parser.add_argument("--chunk-size", type=int, default=8, help="perturbed images per forward")
    parser.add_argument(
        "--out", type=Path, default=Path("results/sanity_inverse.md"), help="the table written"
    )
    args = parser.parse_args()

    config = yaml.safe_load((args.run_dir / "config.yaml").read_text())
    zoo = load_model(config["model"]["name"], config["model"].get("weights", "imagenet"))
    rows = read_per_image(args.run_dir)
    rows = rows[rows["skipped"] == ""]
    metrics = {"deletion": deletion(args.preset), "insertion": insertion(args.preset)}
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for image_id, group in tqdm(rows.groupby("image_id", sort=False), unit="img"):
        image = zoo.transform(load_image(group["path"].iloc[0]))[None]
        target = torch.tensor([int(group["target"].iloc[0])])
        saved = np.load(args.run_dir / "maps" / f"{image_id}.npz")
        for method in group["method"]:
            saliency = torch.from_numpy(saved[method].astype(np.float32))[None]
            both = torch.cat([saliency, 1 - saliency])
            for kind, metric in metrics.items():
                auc = metric(zoo.model, image.expand(2, -1, -1, -1), both, target.expand(2),
                             chunk_size=args.chunk_size).auc
                results.setdefault((method, kind), []).append((float(auc[0]), float(auc[1])))

    lines = [
        f"# Maps against their inverse: {args.run_dir.name}, preset `{args.preset}`",
        "",
        f"Command: `python scripts/sanity_inverse.py {args.run_dir} --preset {args.preset}`. "
        "Wins: images where the map beats 1 - map (lower deletion AUC, higher insertion AUC).",
        "",
        "| method | deletion: map | deletion: 1 - map | wins | insertion: map "
        "| insertion: 1 - map | wins |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for method in dict.fromkeys(m for m, _ in results):
        cells = []
        for kind, better in (("deletion", np.less), ("insertion", np.greater)):
            pairs = np.array(results[method, kind])
            wins = int(better(pairs[:, 0], pairs[:, 1]).sum())
            cells += [f"{pairs[:, 0].mean():.3f}", f"{pairs[:, 1].mean():.3f}",
                      f"{wins}/{len(pairs)}"]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
