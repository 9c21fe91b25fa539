"""Applies the rule of docs/cluster-cam.md ("How the default is chosen") to the candidates.

The candidates, each with every option stated, are those of clustercam/bench/candidates.py; the
options of those run go to `<out>/candidates.csv`.

Per model and candidate, the per-image metrics (deletion and insertion AUC with the given preset,
Average Drop and Increase in Confidence with the continuous mask) go to
`<out>/per_image/<model>__<candidate>.csv` (reused when it holds the same photos, so an
interrupted run resumes);
then every pair of candidates is compared per model and metric with the paired statistics of the
report, and the rule picks the default. Stability numbers (gate and tie-break) come from the
Table 6 CSV of scripts/stability.py.

    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 python scripts/choose_default.py --preset fast
writes results/table_default_choice.md and .csv.
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
from tqdm import tqdm

from clustercam.bench import stats
from clustercam.bench.candidates import CANDIDATES, FIXED, VARIED, build, write_table
from clustercam.bench.columns import BY_NAME
from clustercam.bench.data import bundled_samples, load_image
from clustercam.bench.zoo import load_model
from metrics import confidence, deletion, insertion

METRICS = ("deletion_auc", "insertion_auc", "drop_continuous", "increase_continuous")
MODELS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
SEED_GATE = 0.95
# Metrics of maps already scored (model, class, map bytes): candidates whose maps coincide on an
# image (e.g. float32 and float64 clustering) share the metrics' forward passes.
_SCORED: dict[tuple[str, int, bytes], dict[str, float]] = {}


def per_image(model_name: str, candidate: str, preset: str, n_images: int, chunk: int):
    """The candidate's per-image metrics and cost on the first `n_images` bundled photos."""
    zoo = load_model(model_name)
    samples = bundled_samples()[:n_images]
    images = torch.stack([zoo.transform(load_image(s.path)) for s in samples])
    method = build(candidate, zoo.model, zoo.target_layer, chunk_size=chunk)
    rows = []
    for start in tqdm(range(0, len(images), 4), desc=f"{model_name} {candidate}", leave=False):
        batch = images[start : start + 4]
        began = time.perf_counter()
        explanation = method(batch)
        seconds = (time.perf_counter() - began) / len(batch)
        maps, classes = explanation.maps, explanation.classes
        keys = [(model_name, int(c), m.numpy().tobytes()) for m, c in zip(maps, classes)]
        todo = [b for b, key in enumerate(keys) if key not in _SCORED]
        if todo:
            x, m, c = batch[todo], maps[todo], classes[todo]
            drop = confidence(zoo.model, x, m, c, "continuous", chunk)
            deleted = deletion(preset)(zoo.model, x, m, c, chunk_size=chunk)
            inserted = insertion(preset)(zoo.model, x, m, c, chunk_size=chunk)
            for i, b in enumerate(todo):
                _SCORED[keys[b]] = {
                    "deletion_auc": float(deleted.auc[i]), "insertion_auc": float(inserted.auc[i]),
                    "drop_continuous": float(drop.drop[i]),
                    "increase_continuous": float(drop.increase[i]),
                }  # fmt: skip
        for b in range(len(batch)):
            rows.append({
                "model": model_name, "candidate": candidate,
                "image_id": samples[start + b].image_id, "target": int(classes[b]),
                **_SCORED[keys[b]], "forward": explanation.cost.forward, "seconds": seconds,
            })  # fmt: skip
    return pd.DataFrame(rows)


def comparisons(frame: pd.DataFrame) -> pd.DataFrame:
    """Every ordered pair (candidate, other) per model and metric: the paired statistics of
    candidate - other, and whether the candidate significantly wins or loses."""
    rows = []
    for model_name, by_model in frame.groupby("model"):
        wide = {m: by_model.pivot(index="image_id", columns="candidate", values=m) for m in METRICS}
        candidates = sorted(by_model["candidate"].unique())
        for metric in METRICS:
            field = BY_NAME[metric]
            for name in candidates:
                for other in candidates:
                    if name == other:
                        continue
                    result = stats.paired(wide[metric][name], wide[metric][other], field)
                    better = result.mean > 0 if field.better == "higher" else result.mean < 0
                    significant = result.p_value < 0.05
                    rows.append({
                        "model": model_name, "metric": metric, "candidate": name,
                        "other": other, "n": result.n, "diff": result.mean,
                        "diff_ci95": result.ci95, "p": result.p_value, "wtl": result.record,
                        "sig_win": bool(significant and better),
                        "sig_loss": bool(significant and not better and result.mean != 0),
                    })  # fmt: skip
    return pd.DataFrame(rows)


def choose(frame: pd.DataFrame, pairs: pd.DataFrame, stability: pd.DataFrame | None):
    """The rule: stability gate, no significant loss, most significant wins, then ties."""
    table = frame.groupby("candidate").agg(
        models=("model", "nunique"), images=("image_id", "count"),
        deletion_auc=("deletion_auc", "mean"), insertion_auc=("insertion_auc", "mean"),
        drop_continuous=("drop_continuous", "mean"),
        increase_continuous=("increase_continuous", lambda v: 100 * v.mean()),
        forward=("forward", "mean"), seconds=("seconds", "mean"),
    )  # fmt: skip
    table["sig_losses"] = pairs.groupby("candidate")["sig_loss"].sum()
    table["sig_wins"] = pairs.groupby("candidate")["sig_win"].sum()
    table["seeds_spearman"] = np.nan
    table["noise_spearman"] = np.nan
    if stability is not None:
        indexed = stability.set_index(["method", "comparison"])["spearman_median"]
        for name in table.index:
            table.loc[name, "seeds_spearman"] = indexed.get((f"cc_{name}", "seeds"), np.nan)
            table.loc[name, "noise_spearman"] = indexed.get((f"cc_{name}", "noise"), np.nan)
    gate = table["seeds_spearman"] >= SEED_GATE
    table["passes_gate"] = gate
    pool = table[gate] if gate.any() else table
    least = pool["sig_losses"].min()
    pool = pool[pool["sig_losses"] == least]
    ranked = pool.assign(noise=pool["noise_spearman"].fillna(-1)).sort_values(
        ["sig_wins", "noise", "forward", "seconds"], ascending=[False, False, True, True]
    )
    table["chosen"] = table.index == ranked.index[0]
    return table.reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models", nargs="*", default=list(MODELS), help="models the candidates run on"
    )
    parser.add_argument(
        "--candidates", nargs="*", default=list(CANDIDATES), choices=CANDIDATES,
        help="Cluster-CAM candidates to compare (clustercam/bench/candidates.py)",
    )
    parser.add_argument(
        "--preset", default="fast", help="deletion/insertion preset (docs/metrics.md)"
    )
    parser.add_argument("--images", type=int, default=22, help="the first N bundled photos")
    parser.add_argument("--chunk-size", type=int, default=16, help="masked images per forward pass")
    parser.add_argument(
        "--stability", type=Path, default=Path("results/table6_stability.csv"),
        help="Table 6 CSV of scripts/stability.py (the gate and the tie-break)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results/default_choice"),
        help="folder of candidates.csv and the per-image records (reused on a rerun)",
    )
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    (args.out / "per_image").mkdir(parents=True, exist_ok=True)
    # A saved file is reused only for the same photos (a run with another --images redoes it).
    wanted = [sample.image_id for sample in bundled_samples()[: args.images]]
    frames = []
    for model_name in args.models:
        for candidate in args.candidates:
            path = args.out / "per_image" / f"{model_name}__{candidate}.csv"
            saved = pd.read_csv(path, dtype={"image_id": str}) if path.exists() else None
            if saved is None or saved["image_id"].tolist() != wanted:
                saved = per_image(model_name, candidate, args.preset, args.images, args.chunk_size)
                saved.to_csv(path, index=False)
            frames.append(saved)
    frame = pd.concat(frames, ignore_index=True)
    pairs = comparisons(frame)
    stability = pd.read_csv(args.stability) if args.stability.exists() else None
    table = choose(frame, pairs, stability)
    pairs.to_csv(args.out / "pairs.csv", index=False)
    write_table(args.out / "candidates.csv", args.candidates)
    table.to_csv("results/table_default_choice.csv", index=False)
    models = ", ".join(sorted(frame["model"].unique()))
    header = (
        "# Choosing Cluster-CAM's default (rule of docs/cluster-cam.md, declared before measuring)"
        f"\n\nModels: {models}; {args.images} bundled photos each; metrics preset "
        f"`{args.preset}` on CPU. Means over all models' images; sig_wins / sig_losses count "
        "(model, metric, other candidate) comparisons won / lost with a paired Wilcoxon p < 0.05 "
        f"(all pairs: {args.out / 'pairs.csv'}). seeds/noise_spearman: median map agreement on "
        "EfficientNet-Lite0 (Table 6).\n\nCluster-CAM options held fixed for every candidate: "
        f"{', '.join(f'`{k}={v}`' for k, v in FIXED.items())}; each candidate's full options "
        f"(its own {', '.join(VARIED)}, then the rest): "
        f"{args.out / 'candidates.csv'}.\n\n"
        f"Command: `PYTHONPATH=$PWD HF_HUB_OFFLINE=1 python {shlex.join(sys.argv)}`\n\n"
    )
    markdown = table.to_markdown(index=False, floatfmt=".4f")
    Path("results/table_default_choice.md").write_text(header + markdown + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
