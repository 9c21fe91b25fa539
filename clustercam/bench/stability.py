"""How much a method's maps move when nothing that matters changes (Table 6).

Three perturbations, each compared with the method's reference maps (seed 0, float32, the clean
image, the model's device):
- `seeds`: the method built with seeds 1..S-1 (a method without a seed is simply run again, so
  it shows its floor: agreement 1);
- `precision`: the model and the images in float64 (a stand-in for another device's rounding; a
  real other device is compared from saved maps by `saved_map_agreement`);
- `noise`: the image plus Gaussian noise of sigma `noise_sigma` in pixel space ([0, 1] pixels
  before normalisation), an imperceptible change.
Agreement is the Spearman rank correlation of two maps and the IoU of their top-15% pixels;
optionally also the spread (max - min) of each per-image metric over the runs of one comparison.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from torch import nn
from tqdm import tqdm

TOP_FRACTION = 0.15
COMPARISONS: tuple[str, ...] = ("seeds", "precision", "noise")
# (model, images, maps, classes) -> per-image values of one metric, e.g. insertion AUC.
MetricFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
MakeSeededMethod = Callable[[nn.Module, int], Callable[..., object]]


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Rank correlation of two maps (scipy's, ties sharing their mean rank); 1 for two constant
    maps, 0 for a constant against a varying one (no order to agree with), NaN when neither is
    constant and one holds a NaN."""
    if torch.equal(a, b):
        return 1.0  # exactly, not up to the rounding of the correlation
    constant_a, constant_b = bool(a.max() == a.min()), bool(b.max() == b.min())
    if constant_a or constant_b:  # scipy would warn and return NaN
        return float(constant_a and constant_b)
    x, y = (t.detach().flatten().cpu().double().numpy() for t in (a, b))
    return float(spearmanr(x, y).statistic)


def top_iou(a: torch.Tensor, b: torch.Tensor, fraction: float = TOP_FRACTION) -> float:
    """IoU of the two maps' top-`fraction` pixels (ties broken by position, the same for both)."""
    n_top = max(1, int(fraction * a.numel()))
    top_a = torch.zeros(a.numel(), dtype=torch.bool)
    top_b = torch.zeros(b.numel(), dtype=torch.bool)
    top_a[a.flatten().cpu().topk(n_top).indices] = True
    top_b[b.flatten().cpu().topk(n_top).indices] = True
    return float((top_a & top_b).sum() / (top_a | top_b).sum())


def has_seed(make: MakeSeededMethod, model: nn.Module) -> bool:
    """Whether the method's constructor takes a seed (else the seeds comparison is a re-run)."""
    method = make(model, 0)
    target = getattr(method, "method_class", type(method))
    return "seed" in inspect.signature(target).parameters


def pixel_noise(
    images: torch.Tensor, sigma: float, pixel_std: Sequence[float], generator: torch.Generator
) -> torch.Tensor:
    """Adds N(0, sigma^2) noise in [0, 1] pixel units to normalised images (divided by the
    normalisation std, so the noise is the same in the photo whatever the model's transform)."""
    std = torch.as_tensor(pixel_std, dtype=images.dtype, device=images.device)[None, :, None, None]
    noise = torch.randn(images.shape, generator=generator).to(images.device, images.dtype)
    return images + noise * sigma / std


def measure(
    make: MakeSeededMethod,
    model: nn.Module,
    images: torch.Tensor,
    classes: torch.Tensor,
    image_ids: Sequence[str],
    *,
    seeds: int = 3,
    noise_sigma: float = 1 / 255,
    pixel_std: Sequence[float] = (0.5, 0.5, 0.5),
    comparisons: Sequence[str] = COMPARISONS,
    metrics: dict[str, MetricFn] | None = None,
    noise_seed: int = 1234,
) -> pd.DataFrame:
    """One row per (comparison, run, image): Spearman and top-15% IoU against the reference map,
    and each metric's value on the reference and on the run (columns `<metric>`, `<metric>_ref`).

    `make(model, seed)` builds the method on a model. The model is never changed: the precision
    comparison runs on a float64 deep copy. The images' classes are fixed (`classes`), so every
    run explains the same class.
    """
    unknown = set(comparisons) - set(COMPARISONS)
    if unknown:
        raise ValueError(f"unknown comparisons {sorted(unknown)}; choose from {COMPARISONS}")
    metrics = metrics or {}

    def explain(net: nn.Module, seed: int, x: torch.Tensor) -> torch.Tensor:
        return make(net, seed)(x, targets=classes.to(x.device)).maps.float().cpu()

    def scored(net: nn.Module, x: torch.Tensor, maps: torch.Tensor) -> dict[str, np.ndarray]:
        return {
            name: np.asarray(fn(net, x, maps.to(x.device, x.dtype), classes.to(x.device)).cpu(),
                             dtype=float)
            for name, fn in metrics.items()
        }  # fmt: skip

    reference = explain(model, 0, images)
    reference_scores = scored(model, images, reference)
    runs: list[tuple[str, str, torch.Tensor, dict[str, np.ndarray]]] = []
    if "seeds" in comparisons:
        for seed in range(1, seeds):
            maps = explain(model, seed, images)
            runs.append(("seeds", f"seed {seed}", maps, scored(model, images, maps)))
    if "precision" in comparisons:
        double = copy.deepcopy(model).double()
        maps = explain(double, 0, images.double())
        runs.append(("precision", "float64", maps, scored(model, images, maps)))
    if "noise" in comparisons:
        generator = torch.Generator().manual_seed(noise_seed)
        noisy = pixel_noise(images, noise_sigma, pixel_std, generator)
        maps = explain(model, 0, noisy)
        runs.append(("noise", f"sigma {noise_sigma * 255:g}/255", maps, scored(model, noisy, maps)))
    rows = []
    for comparison, run, maps, scores in runs:
        for b, image_id in enumerate(image_ids):
            row: dict[str, object] = {
                "comparison": comparison, "run": run, "image_id": image_id,
                "spearman": spearman(reference[b], maps[b]),
                "top15_iou": top_iou(reference[b], maps[b]),
            }  # fmt: skip
            for name in metrics:
                row[name], row[f"{name}_ref"] = scores[name][b], reference_scores[name][b]
            rows.append(row)
    return pd.DataFrame(rows)


def summarize_stability(per_run: pd.DataFrame, metric_names: Sequence[str] = ()) -> pd.DataFrame:
    """Per comparison: median and min Spearman, median top-15% IoU over images and runs, and for
    each metric the median and max over images of its spread (max - min over the reference and
    the comparison's runs)."""
    rows = []
    for comparison, group in per_run.groupby("comparison", sort=False):
        row: dict[str, object] = {
            "comparison": comparison, "n_images": group["image_id"].nunique(),
            "spearman_median": group["spearman"].median(), "spearman_min": group["spearman"].min(),
            "top15_iou_median": group["top15_iou"].median(),
        }  # fmt: skip
        for name in metric_names:
            per_image = group.groupby("image_id")
            high = np.maximum(per_image[name].max(), per_image[f"{name}_ref"].max())
            low = np.minimum(per_image[name].min(), per_image[f"{name}_ref"].min())
            spread = (high - low).to_numpy(dtype=float)
            row[f"{name}_spread_median"] = float(np.nanmedian(spread))
            row[f"{name}_spread_max"] = float(np.nanmax(spread))
        rows.append(row)
    return pd.DataFrame(rows)


def measure_methods(
    makers: dict[str, MakeSeededMethod],
    model: nn.Module,
    images: torch.Tensor,
    classes: torch.Tensor,
    image_ids: Sequence[str],
    **options: object,
) -> pd.DataFrame:
    """`measure` for every method, rows tagged with the method and whether it has a seed."""
    frames = []
    for name, make in tqdm(makers.items(), desc="stability", unit="method"):
        frame = measure(make, model, images, classes, image_ids, **options)
        frame.insert(0, "seeded", has_seed(make, model))
        frame.insert(0, "method", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def saved_map_agreement(run_a: Path, run_b: Path) -> pd.DataFrame:
    """Spearman and top-15% IoU of the maps two runs saved (`save_maps=true`: maps/<image>.npz,
    one array per method), per image and method both have; e.g. a CPU run against a GPU run of
    the same config, for the device comparison of Table 6."""
    rows = []
    maps_a, maps_b = Path(run_a) / "maps", Path(run_b) / "maps"
    for missing in (maps_a, maps_b):
        if not missing.is_dir():
            raise FileNotFoundError(
                f"{missing} does not exist: run both with save_maps=true to compare their maps"
            )
    for path in sorted(maps_a.glob("*.npz")):
        other = maps_b / path.name
        if not other.exists():
            continue
        with np.load(path) as first, np.load(other) as second:
            for method in sorted(set(first.files) & set(second.files)):
                a = torch.from_numpy(first[method].astype(np.float32))
                b = torch.from_numpy(second[method].astype(np.float32))
                rows.append({
                    "method": method, "image_id": path.stem,
                    "spearman": spearman(a, b), "top15_iou": top_iou(a, b),
                })  # fmt: skip
    if not rows:
        raise ValueError(f"{run_a} and {run_b} saved no maps of the same image and method")
    return pd.DataFrame(rows)
