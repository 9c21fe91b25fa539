"""Cascading model-parameter randomisation (Adebayo et al. 2018, "Sanity Checks for Saliency
Maps"): re-draw the weights from the top layer down, one block at a time, and see whether a
method's maps change. A map that survives a randomised network cannot be explaining what the
network learned. The original model is never touched: the cascade runs on one deep copy.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence

import pandas as pd
import torch
from skimage.metrics import structural_similarity
from torch import nn
from tqdm import tqdm

from clustercam.bench.stability import spearman

# Passes the check when, with every block randomised, the median Spearman of its maps with the
# original maps is below this: the maps no longer follow the trained weights.
PASS_BELOW = 0.5
MakeMethodForModel = Callable[[nn.Module], Callable[..., object]]
SSIM_WINDOW = 11  # what skimage's Gaussian filter spans at sigma 1.5 (truncated at 3.5 sigma)


def cascade_blocks(model: nn.Module) -> list[str]:
    """The model's blocks with parameters, top (output) first: its top-level children, with
    Sequential / ModuleList children opened one level (e.g. timm's `blocks.0` .. `blocks.6`)."""
    blocks = []
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential | nn.ModuleList):
            blocks += [f"{name}.{inner}" for inner, _ in child.named_children()]
        else:
            blocks.append(name)
    with_parameters = [b for b in blocks if any(True for _ in model.get_submodule(b).parameters())]
    return with_parameters[::-1]


def randomize_(module: nn.Module, generator: torch.Generator) -> None:
    """Re-draws every parameter of `module` in place as Gaussian noise with the parameter's own
    mean and standard deviation (so scales stay plausible; a one-element tensor keeps its mean)."""
    with torch.no_grad():
        for parameter in module.parameters():
            mean, std = parameter.mean(), parameter.std() if parameter.numel() > 1 else 0.0
            noise = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
            parameter.copy_(mean + std * noise.to(parameter.device))


def cascade(
    model: nn.Module, blocks: Sequence[str] | None = None, seed: int = 0
) -> Iterator[tuple[str, nn.Module]]:
    """Yields (block, copy) after randomising each block in turn, top first, cumulatively, on one
    deep copy of `model` (which is left as it was)."""
    randomized = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    for block in cascade_blocks(model) if blocks is None else blocks:
        randomize_(randomized.get_submodule(block), generator)
        yield block, randomized


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Structural similarity of two maps in [0, 1]: scikit-image's with the constants of Wang et
    al. 2004 (Gaussian window 11 / sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1, population
    covariance), averaged over the window positions that fit in the map. Maps smaller than 11
    pixels a side are averaged over the largest odd window that fits (the filter itself then
    reflects at the borders)."""
    x, y = (t.detach().cpu().double().numpy() for t in (a, b))  # float64: skimage keeps float32
    # Below 11 px a side the 11-tap filter reflects at the borders: SSIM there moved (up to 0.07
    # on 5-10 px random maps) from the former valid-only code; from 11 px it is the same.
    fits = min(SSIM_WINDOW, *x.shape[-2:])
    return float(structural_similarity(
        x, y, win_size=fits - (1 - fits % 2), gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=1.0,
    ))  # fmt: skip


def sanity_check(
    makers: dict[str, MakeMethodForModel],
    model: nn.Module,
    images: torch.Tensor,
    image_ids: Sequence[str],
    blocks: Sequence[str] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (method, step, image): Spearman and SSIM of the map on the randomised copy with
    the map on the original. Step 0 is the original itself; step i has the top i blocks
    randomised. Every map explains the original model's top-1 class."""
    with torch.no_grad():
        classes = model(images).argmax(1)
    originals = {name: make(model)(images, targets=classes).maps.float().cpu()
                 for name, make in makers.items()}  # fmt: skip
    rows = []
    blocks = cascade_blocks(model) if blocks is None else blocks
    # The cascade mutates one copy: each step's maps must be made before the next step.
    steps = tqdm(cascade(model, blocks, seed), total=len(blocks), desc="cascade", unit="block")
    for step, (block, randomized) in enumerate(steps, 1):
        for name, make in makers.items():
            maps = make(randomized)(images, targets=classes).maps.float().cpu()
            for b, image_id in enumerate(image_ids):
                rows.append({
                    "method": name, "step": step, "block": block, "image_id": image_id,
                    "spearman": spearman(originals[name][b], maps[b]),
                    "ssim": ssim(originals[name][b], maps[b]),
                })  # fmt: skip
    return pd.DataFrame(rows)


def verdicts(rows: pd.DataFrame) -> pd.DataFrame:
    """Per method: median Spearman / SSIM after the first block and with every block randomised,
    and whether it passes (maps no longer follow the weights: final median Spearman below
    PASS_BELOW)."""
    table = []
    for method, group in rows.groupby("method", sort=False):
        first = group[group["step"] == group["step"].min()]
        last = group[group["step"] == group["step"].max()]
        final = float(last["spearman"].median())
        table.append({
            "method": method,
            "spearman_first_block": float(first["spearman"].median()),
            "ssim_first_block": float(first["ssim"].median()),
            "spearman_all_blocks": final, "ssim_all_blocks": float(last["ssim"].median()),
            "verdict": "pass" if final < PASS_BELOW else "FAIL (maps do not change)",
        })  # fmt: skip
    return pd.DataFrame(table)
