"""Does each method's map beat its own inverse (1 - map)? A sanity check of the metrics.

Reads the saved maps of a run (`save_maps=true`), scores each map and its inverse with deletion
and insertion, and writes a Markdown table: mean AUCs and on how many images the map wins.
With `--methods`, only those methods are scored again; the other methods' rows are kept from the
table already at `--out` when it was made from the same run and preset (e.g. after a fix to one
method, whose maps alone were made again).

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
from clustercam.bench.run_folder import read_per_image
from metrics import deletion, insertion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run folder with save_maps=true")
    parser.add_argument("--preset", default="fast", help="metrics preset: fast, rise, ...")
    parser.add_argument("--chunk-size", type=int, default=8, help="perturbed images per forward")
    parser.add_argument(
        "--out", type=Path, default=Path("results/sanity_inverse.md"), help="the table written"
    )
    parser.add_argument(
        "--methods", nargs="+", default=None,
        help="score only these methods; keep the other rows of the table at --out",
    )  # fmt: skip
    args = parser.parse_args()

    config = yaml.safe_load((args.run_dir / "config.yaml").read_text())
    zoo = load_model(config["model"]["name"], config["model"].get("weights", "imagenet"))
    rows = read_per_image(args.run_dir)
    rows = rows[rows["skipped"] == ""]
    if args.methods:
        rows = rows[rows["method"].isin(args.methods)]
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

    title = f"# Maps against their inverse: {args.run_dir.name}, preset `{args.preset}`"
    kept = kept_rows(args.out, title, args.methods) if args.methods else {}
    lines = [
        title,
        "",
        f"Command: `python scripts/sanity_inverse.py {args.run_dir} --preset {args.preset}`"
        + (f" (then `--methods {' '.join(args.methods)}`, the other rows kept)" if kept else "")
        + ". Wins: images where the map beats 1 - map (lower deletion AUC, higher insertion AUC).",
        "",
        "| method | deletion: map | deletion: 1 - map | wins | insertion: map "
        "| insertion: 1 - map | wins |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    table: dict[str, str] = dict(kept)
    for method in dict.fromkeys(m for m, _ in results):
        cells = []
        for kind, better in (("deletion", np.less), ("insertion", np.greater)):
            pairs = np.array(results[method, kind])
            wins = int(better(pairs[:, 0], pairs[:, 1]).sum())
            cells += [f"{pairs[:, 0].mean():.3f}", f"{pairs[:, 1].mean():.3f}",
                      f"{wins}/{len(pairs)}"]
        table[method] = f"| {method} | " + " | ".join(cells) + " |"
    order = list(dict.fromkeys(read_per_image(args.run_dir)["method"]))
    lines += [table[m] for m in sorted(table, key=lambda m: order.index(m) if m in order else 0)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def kept_rows(path: Path, title: str, methods: list[str]) -> dict[str, str]:
    """The rows of the other methods in the table at `path`, if it was made with `title`."""
    if not path.exists() or path.read_text().splitlines()[0] != title:
        return {}
    rows = [line for line in path.read_text().splitlines() if line.startswith("| ")][1:]
    return {
        name: line for line in rows if (name := line.split("|")[1].strip()) not in methods
    }


if __name__ == "__main__":
    main()
