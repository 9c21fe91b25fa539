"""The runner's data pipeline and device plan on the tiny model: auto sizes per device, the
DataLoader path (workers, an unreadable image, order), warm-up kept out of per-image seconds, the
`tail` column, precision, and resuming a run folder written before `tail` existed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from runner_support import TINY, compose_config, make_image_folder

from clustercam.bench.columns import COLUMNS, TIMING_COLUMNS
from clustercam.bench.devices import resolve_plan
from clustercam.bench.experiment import run
from clustercam.bench.run_folder import read_per_image

IMAGES = ["img0", "img1", "img2", "img2_broken", "img3", "img4"]


def folder_run(tmp_path: Path, run_name: str, *overrides: str) -> Path:
    images = make_image_folder(tmp_path / "images")
    cfg = compose_config(*TINY, "data=imagefolder", f"data.root={images}", *overrides)
    run(cfg, tmp_path / run_name)
    return tmp_path / run_name


def values(run_dir: Path) -> pd.DataFrame:
    """per_image.csv without the timing columns, which differ between identical runs."""
    return read_per_image(run_dir).drop(columns=list(TIMING_COLUMNS), errors="ignore")


@pytest.mark.parametrize("cuda", [True, False])
def test_auto_sizes_follow_the_device(monkeypatch: pytest.MonkeyPatch, cuda: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    plan = resolve_plan("auto", "auto", "auto", "auto")
    workers = min(4, os.cpu_count() or 1)
    expected = ("cuda", 32, 256, workers) if cuda else ("cpu", 1, 16, 0)
    assert (plan.device.type, plan.batch_size, plan.chunk_size, plan.num_workers) == expected
    given = resolve_plan("auto", 3, 5, 2)
    assert (given.batch_size, given.chunk_size, given.num_workers) == (3, 5, 2)


@pytest.mark.parametrize(
    "sizes, message",
    [
        (("auto", 0, "auto"), "chunk_size must be 'auto' or an integer >= 1, got 0"),
        (("big", "auto", "auto"), "batch_size must be 'auto' or an integer >= 1, got 'big'"),
        (("auto", "auto", -1), "num_workers must be 'auto' or an integer >= 0, got -1"),
    ],
)
def test_bad_sizes_are_named(sizes: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_plan("cpu", *sizes)


def test_workers_and_batches_give_the_same_records(tmp_path: Path) -> None:
    """One image at a time in this process vs batches of 4 read by a worker process."""
    plain = folder_run(tmp_path, "plain", "batch_size=1", "num_workers=0")
    loaded = folder_run(tmp_path, "loaded", "batch_size=4", "num_workers=1")
    a, b = values(plain), values(loaded)
    assert list(a["image_id"]) == IMAGES  # the data set's order, the unreadable file included
    broken = a[a["image_id"] == "img2_broken"]["skipped"].item()
    assert broken.startswith("cannot read image")
    pd.testing.assert_frame_equal(a.drop(columns="path"), b.drop(columns="path"), atol=1e-5)
    stored = (loaded / "config.yaml").read_text()
    assert "batch_size: 4" in stored and "num_workers: 1" in stored and "precision: fp32" in stored


def test_warm_up_is_kept_out_of_per_image_seconds(tmp_path: Path) -> None:
    delay = 1.5
    run_dir = folder_run(
        tmp_path,
        "run",
        "method=gradcam",
        "method._target_=toys.SlowFirstGradCAM",
        f"+method.delay={delay}",
        "warmup=true",
    )
    table = read_per_image(run_dir)
    assert table["seconds"].max() < delay / 3
    setup = json.loads((run_dir / "setup_cost.json").read_text())
    assert setup["gradcam"]["warmup_seconds"] >= delay


def test_without_warm_up_the_first_image_pays_it(tmp_path: Path) -> None:
    """The counterpart: the same toy with warmup=false shows the delay in the per-image seconds,
    so the test above could fail."""
    run_dir = folder_run(
        tmp_path,
        "run",
        "method=gradcam",
        "method._target_=toys.SlowFirstGradCAM",
        "+method.delay=1.5",
        "warmup=false",
    )
    assert read_per_image(run_dir)["seconds"].max() >= 1.5
    setup = json.loads((run_dir / "setup_cost.json").read_text())
    assert "warmup_seconds" not in setup["gradcam"]


def test_tail_column_end_to_end(tmp_path: Path) -> None:
    run_dir = folder_run(tmp_path, "run", "method=ablationcam", "+method@methods.gradcam=gradcam")
    table = read_per_image(run_dir)
    scored = table[table["skipped"] == ""]
    ablation = scored[scored["method"] == "ablationcam"]
    gradcam = scored[scored["method"] == "gradcam"]
    assert (ablation["forward"] == 1).all() and (ablation["tail"] > 0).all()
    assert (gradcam["tail"] == 0).all()
    summary = pd.read_csv(run_dir / "summary.csv").set_index("method")
    assert summary.loc["ablationcam", "tail_mean"] == pytest.approx(ablation["tail"].mean())


def test_bf16_runs_on_the_cpu_and_must_match_on_resume(tmp_path: Path) -> None:
    run_dir = folder_run(tmp_path, "run", "precision=bf16", "+method@methods.gradcam=gradcam")
    table = read_per_image(run_dir)
    assert (table["skipped"] != "").sum() == 2  # the unreadable image, once per method
    assert "precision: bf16" in (run_dir / "config.yaml").read_text()
    cfg = compose_config(
        *TINY,
        "data=imagefolder",
        f"data.root={tmp_path / 'images'}",
        "+method@methods.gradcam=gradcam",
    )
    with pytest.raises(ValueError, match=r"differs in precision"):
        run(cfg, run_dir)


def test_old_run_without_tail_resumes(tmp_path: Path) -> None:
    """A run folder written before the `tail` column: read with NaN, resumed, rewritten."""
    run_dir = folder_run(tmp_path, "run")
    table = pd.read_csv(run_dir / "per_image.csv", dtype=str, keep_default_na=False)
    old = table.drop(columns="tail")
    old.iloc[:-1].to_csv(run_dir / "per_image.csv", index=False)  # and the last image not done
    assert read_per_image(run_dir)["tail"].isna().all()
    stored = yaml.safe_load((run_dir / "config.yaml").read_text())
    for key in ("precision", "num_workers", "warmup"):  # keys older runs did not have
        del stored[key]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(stored, sort_keys=False))
    cfg = compose_config(*TINY, "data=imagefolder", f"data.root={tmp_path / 'images'}")
    run(cfg, run_dir)
    resumed = read_per_image(run_dir)
    assert list(resumed.columns) == list(COLUMNS)
    assert list(resumed["image_id"]) == IMAGES
    assert resumed["tail"].iloc[:-1].isna().all() and resumed["tail"].iloc[-1] == 0
