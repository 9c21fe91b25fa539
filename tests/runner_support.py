"""Helpers of the runner tests: composed configs and a small generated image folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from PIL import Image

import clustercam.bench.schema  # noqa: F401 - registers the config's run_schema with Hydra

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
# The tiny model of tests/toys.py as the run's model, on small images and short curves.
TINY = ["model._target_=toys.tiny_zoo", "model.name=tiny", "device=cpu", "metrics.causal.step=64"]
WNIDS = ["n01440764", "n01440764", "n01443537", "n01443537", "n01443537"]  # classes 0, 0, 1, 1, 1


def compose_config(*overrides: str) -> DictConfig:
    """The config `python run.py *overrides` would run."""
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def make_image_folder(root: Path) -> Path:
    """Two classes of wnid sub-folders, five small noise photos and one corrupt file."""
    for index, wnid in enumerate(WNIDS):
        (root / wnid).mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(index).integers(0, 255, (20, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / wnid / f"img{index}.png")
    (root / "n01443537" / "img2_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    return root
