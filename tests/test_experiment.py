"""The experiment loop end to end on a tiny model: tables, curves, maps, errors, resume, sweeps."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from omegaconf import OmegaConf
from PIL import Image
from runner_support import ROOT, TINY, compose_config, make_image_folder
from scipy import stats
from toys import tiny_zoo

from clustercam.bench.build import setup
from clustercam.bench.columns import COLUMNS, TIMING_COLUMNS
from clustercam.bench.data import load_image
from clustercam.bench.errors import ConfigError
from clustercam.bench.estimate import Estimate, Passes, budgets, check_cpu_time, duration, estimate
from clustercam.bench.experiment import _Progress, run
from clustercam.bench.forget import rerun_command
from clustercam.bench.gather import gather, main, short_table
from clustercam.bench.merge import main as merge_main
from clustercam.bench.run_command import RunDirCallback
from clustercam.bench.run_folder import forget, read_per_image

METHODS = [
    "clustercam", "gradcam", "gradcampp", "scorecam", "random", "center",
    "groupcam", "groupcam_kmeans", "ablationcam", "rise", "eigencam", "layercam", "sscam",
    "hirescam", "xgradcam", "reciprocam", "fem", "kpcacam", "cfcam", "opticam",
]
# 16 x 16 toy images: a blur kernel that fits them, and few RISE masks to keep the run short.
SMALL_METHODS = (
    "methods.groupcam.blur_kernel=15",
    "methods.groupcam_kmeans.blur_kernel=15",
    "methods.rise.n_masks=40",
)
IMAGES = ["img0", "img1", "img2", "img2_broken", "img3", "img4"]
N_POINTS = 5  # 16 x 16 pixels, 64 per step: 4 steps


def folder_run(tmp_path: Path, *overrides: str) -> Path:
    """Runs the tiny model on the generated folder in-process; returns the run dir."""
    images = make_image_folder(tmp_path / "images")
    cfg = compose_config(*TINY, "data=imagefolder", f"data.root={images}", *overrides)
    run(cfg, tmp_path / "run")
    return tmp_path / "run"


@pytest.fixture(scope="module")
def compare_all(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every method of experiment=compare_all, with the maps saved."""
    return folder_run(
        tmp_path_factory.mktemp("compare"), "experiment=compare_all", "save_maps=true",
        *SMALL_METHODS,
    )


def test_run_dir_holds_every_record(compare_all: Path) -> None:
    names = {p.name for p in compare_all.iterdir()}
    expected = {"config.yaml", "per_image.csv", "curves.jsonl", "maps", "summary.csv"}
    assert expected | {"summary.md", "run.log"} <= names
    assert "clustercam" in (compare_all / "run.log").read_text()
    maps = sorted(p.stem for p in (compare_all / "maps").iterdir())
    assert maps == [i for i in IMAGES if i != "img2_broken"]


def test_per_image_table(compare_all: Path) -> None:
    table = read_per_image(compare_all)
    assert tuple(table.columns) == COLUMNS
    assert list(table["image_id"]) == [i for i in IMAGES for _ in METHODS]
    assert list(table["method"]) == METHODS * len(IMAGES)
    scored = table[table["skipped"] == ""]
    assert len(scored) == 5 * len(METHODS)
    assert scored["drop_continuous"].between(0, 100).all()
    assert set(scored["increase_top50"]) <= {0.0, 1.0}
    assert scored["explained_continuous"].between(0, 1).all()
    assert scored["label"].tolist() == [0] * 2 * len(METHODS) + [1] * 3 * len(METHODS)
    cost = scored.groupby("method")[["forward", "backward"]].max()
    assert cost.loc["gradcam"].tolist() == [1.0, 1.0]
    assert cost.loc["center"].tolist() == [1.0, 0.0]
    assert cost.loc["layercam"].tolist() == [1.0, 1.0]
    assert cost.loc["eigencam"].tolist() == [1.0, 0.0]
    assert cost.loc["cfcam"].tolist() == [1.0, 1.0]
    assert cost.loc["opticam"].tolist() == [51.0, 50.0]  # 1 + 50 iterations, 50 backward
    # Exact per image: one forward for p_c(x), then one per non-constant channel (Score-CAM), per
    # cluster (Cluster-CAM: K=8 on 8 channels, so one per distinct non-constant channel map) or
    # per noise sample of each non-constant channel (SS-CAM, 35).
    live, distinct = live_channels(compare_all.parent / "images")
    forward = scored.pivot(index="image_id", columns="method", values="forward")
    assert forward["scorecam"].to_dict() == {i: 1 + n for i, n in live.items()}
    assert forward["clustercam"].to_dict() == {i: 1 + n for i, n in distinct.items()}
    assert forward["sscam"].to_dict() == {i: 1 + 35 * n for i, n in live.items()}
    # AD/IC: 1 forward per mode; curves: 3 inner points each; shared: p_c(x), 2 endpoints.
    assert set(scored["metric_forward"]) == {2 + 2 * 3 + 3}


def live_channels(images: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Per readable image of the folder: its non-constant channels in the tiny model's target
    layer, and how many distinct maps they hold (computed here, not by the methods)."""
    zoo = tiny_zoo()
    live, distinct = {}, {}
    for path in sorted(images.rglob("img*.png")):
        with torch.no_grad():
            maps = zoo.model.features(zoo.transform(load_image(path))[None])[0].flatten(1)
        varying = maps[maps.amax(1) > maps.amin(1)]
        live[path.stem] = len(varying)
        distinct[path.stem] = len(torch.unique(varying, dim=0))
    return live, distinct


def test_skipped_image_keeps_its_reason(compare_all: Path) -> None:
    table = read_per_image(compare_all)
    broken = table[table["image_id"] == "img2_broken"]
    assert len(broken) == len(METHODS)
    assert broken["skipped"].str.contains("cannot read image .*img2_broken.jpg").all()
    assert broken[["probability", "drop_continuous", "insertion_auc", "forward"]].isna().all().all()


def test_progress_shows_the_main_method_only(compare_all: Path) -> None:
    rows = read_per_image(compare_all).to_dict("records")
    text = _Progress(METHODS[0], rows).text()
    assert text.startswith("clustercam ins ") and " del " in text and len(text) < 80


def test_values_match_the_model(compare_all: Path) -> None:
    zoo = tiny_zoo()
    table = read_per_image(compare_all)
    curves = [json.loads(line) for line in (compare_all / "curves.jsonl").read_text().splitlines()]
    assert [(c["image_id"], c["method"]) for c in curves] == [
        (i, m) for i in IMAGES if i != "img2_broken" for m in METHODS
    ]
    by_key = {(c["image_id"], c["method"]): c for c in curves}
    for row in table[table["skipped"] == ""].itertuples():
        image = zoo.transform(load_image(row.path))[None]
        with torch.no_grad():
            probabilities = zoo.model(image).softmax(1)[0]
        assert row.target == int(probabilities.argmax())
        assert row.target_name == zoo.class_names[row.target]
        assert row.probability == pytest.approx(float(probabilities[row.target]), rel=1e-5)
        curve = by_key[row.image_id, row.method]
        assert len(curve["deletion"]) == len(curve["insertion"]) == N_POINTS
        assert curve["deletion"][0] == pytest.approx(row.probability)
        assert curve["insertion"][-1] == pytest.approx(row.probability)
        assert row.deletion_auc == pytest.approx(np.trapezoid(curve["deletion"], dx=0.25))
        assert row.insertion_auc == pytest.approx(np.trapezoid(curve["insertion"], dx=0.25))


def test_saved_maps(compare_all: Path) -> None:
    with np.load(compare_all / "maps" / "img0.npz") as maps:
        assert sorted(maps) == sorted(METHODS)
        for method in METHODS:
            assert maps[method].dtype == np.float16
            assert maps[method].shape == (16, 16)
            assert maps[method].min() == 0 and maps[method].max() == 1


def test_summary_is_mean_and_t_interval(compare_all: Path) -> None:
    table = read_per_image(compare_all)
    summary = pd.read_csv(compare_all / "summary.csv")
    assert list(summary["method"]) == METHODS
    assert list(summary.columns[:3]) == ["method", "n_images", "n_skipped"]
    assert summary.columns[-1] == "setup_forward"
    assert set(summary["n_images"]) == {6}
    assert set(summary["n_skipped"]) == {1}
    for method in METHODS:
        rows = table[table["method"] == method]
        entry = summary[summary["method"] == method].iloc[0]
        increase = 100 * rows["increase_continuous"].dropna()
        assert entry["increase_in_confidence_continuous_mean"] == pytest.approx(increase.mean())
        drop = rows["drop_top50"].dropna()
        assert entry["average_drop_top50_mean"] == pytest.approx(drop.mean())
        half = stats.t.ppf(0.975, len(drop) - 1) * drop.std(ddof=1) / np.sqrt(len(drop))
        assert entry["average_drop_top50_ci95"] == pytest.approx(half)
    md = (compare_all / "summary.md").read_text().splitlines()
    header = [cell.strip() for cell in md[0].strip("|").split("|")]
    assert header[:5] == ["method", "N", "skipped", "Deletion AUC ↓", "Insertion AUC ↑"]
    assert "AD top-50% (%) ↓" in header and "Seconds ↓" in header and "Tail ↓" in header
    assert len(header) == 13
    rows = [line for line in md[2:] if line.startswith("|")]
    assert [row.split("|")[1].strip() for row in rows] == METHODS
    assert {row.split("|")[2].strip() for row in rows} == {"5"}  # scored: 6 images, 1 skipped
    first = summary.iloc[0]
    deletion = f"{first['deletion_auc_mean']:.4f} ± {first['deletion_auc_ci95']:.4f}"
    assert rows[0].split("|")[4].strip() == deletion


def test_estimate_counts_the_passes_the_run_made(compare_all: Path) -> None:
    """The estimate's passes per image are those the run recorded: equal for every method but
    Score-CAM, SS-CAM and Group-CAM (one pass per channel or group, an upper bound: all-zero maps
    are skipped),
    and the metrics' passes equal the recorded metric_forward."""
    cfg = compose_config(*TINY, "data=imagefolder", f"data.root={compare_all.parent / 'images'}",
                         "experiment=compare_all", *SMALL_METHODS)  # fmt: skip
    built = setup(cfg).with_model()
    assert built.zoo is not None
    found = estimate(built, built.zoo, n_images=6)
    assert found is not None and found.device == "cpu" and found.forward_seconds > 0
    table = read_per_image(compare_all)
    scored = table[table["skipped"] == ""]
    for method in METHODS:
        rows = scored[scored["method"] == method]
        passes = found.passes[method]
        assert not passes.assumed, method
        if method in ("scorecam", "sscam", "groupcam", "groupcam_kmeans"):
            assert rows["forward"].max() <= passes.forward, method
        else:
            assert set(rows["forward"]) == {passes.forward}, method
            assert set(rows["backward"]) == {passes.backward}, method
            assert set(rows["tail"]) == {passes.tail}, method
    # Each method's row counts the passes shared by the methods too (what it costs alone).
    assert set(scored["metric_forward"]) == {found.metric_forward + found.shared_forward}
    assert found.total == pytest.approx(6 * found.per_image)
    assert found.describe().startswith(f"estimate: {duration(found.total)} for 6 images on cpu")


def test_a_cpu_run_longer_than_its_limit_is_refused_with_a_suggestion() -> None:
    slow = Estimate(0.1, {"rise": Passes(4001), "gradcam": Passes(1, backward=1)}, 28, 3, 22, "cpu")
    with pytest.raises(ConfigError, match=r"max_cpu_minutes=60; try experiment=compare_fast"):
        check_cpu_time(slow, 60, budget=[])
    check_cpu_time(slow, None, budget=[])  # null: never refused
    check_cpu_time(dataclasses.replace(slow, device="cuda"), 60, budget=[])  # a GPU: never
    with pytest.raises(ConfigError) as refused:
        check_cpu_time(slow, 60, budget=["rise n_masks=500 (default 4000)"])
    assert "compare_fast" not in str(refused.value)  # budgets already reduced: fewer images


def test_reduced_budgets_are_named() -> None:
    options = {
        "rise": {"_target_": "baselines.RISE", "n_masks": 500},
        "sscam": {"_target_": "baselines.SSCAM", "n_samples": 35},
        "gradcam": {"_target_": "baselines.GradCAM"},
    }
    assert budgets(options) == ["rise n_masks=500 (default 4000)"]


def test_the_default_run_draws_its_first_images(tmp_path: Path) -> None:
    """Without save_maps, a run keeps the maps of its first overview_images images only and
    draws them in overview.png, which summary.md links."""
    run_dir = folder_run(tmp_path, "+method@methods.gradcam=gradcam", "overview_images=2")
    assert sorted(p.stem for p in (run_dir / "maps").iterdir()) == IMAGES[:2]
    with np.load(run_dir / "maps" / "img0.npz") as maps:
        assert sorted(maps) == ["clustercam", "gradcam"]
    figure = run_dir / "overview.png"
    assert figure.read_bytes().startswith(b"\x89PNG")
    assert Image.open(figure).size[1] > Image.open(figure).size[0] / 4  # two rows of pictures
    assert "![maps and curves of the first photos](overview.png)" in (
        run_dir / "summary.md"
    ).read_text()
    none = folder_run(tmp_path / "none", "overview_images=0")
    assert not (none / "maps").exists() and not (none / "overview.png").exists()
    assert "overview.png" not in (none / "summary.md").read_text()


def test_data_files_explains_two_given_photos(tmp_path: Path) -> None:
    """data=files with two photos of one's own: both explained for the predicted class."""
    images = make_image_folder(tmp_path / "images")
    photos = [images / "n01443537" / "img3.png", images / "n01440764" / "img0.png"]
    cfg = compose_config(*TINY, "data=files", f"data.paths=[{photos[0]},{photos[1]}]",
                         "+method@methods.gradcam=gradcam")  # fmt: skip
    run(cfg, tmp_path / "run")
    table = read_per_image(tmp_path / "run")
    assert list(dict.fromkeys(table["image_id"])) == ["img3", "img0"]
    assert set(table["method"]) == {"clustercam", "gradcam"}
    assert (table["skipped"] == "").all() and (table["label"] == -1).all()  # unlabelled
    model = tiny_zoo()
    for photo, (_, row) in zip(photos, table.drop_duplicates("image_id").iterrows()):
        with torch.no_grad():
            logits = model.model(model.transform(load_image(photo))[None])
        assert row["target"] == int(logits.argmax())


def test_label_target_and_disabled_metrics(tmp_path: Path) -> None:
    run_dir = folder_run(
        tmp_path, "target=label", "metrics.deletion=null", "metrics.confidence.modes=[top50]"
    )
    table = read_per_image(run_dir)
    scored = table[table["skipped"] == ""]
    assert (scored["target"] == scored["label"]).all()
    assert scored["target_name"].tolist()[0] == "tench"
    assert scored[["deletion_auc", "drop_continuous"]].isna().all().all()
    assert scored[["insertion_auc", "drop_top50"]].notna().all().all()
    curves = [json.loads(line) for line in (run_dir / "curves.jsonl").read_text().splitlines()]
    assert all(c["deletion"] == [] and len(c["insertion"]) == N_POINTS for c in curves)


def test_model_object_and_invalid_maps(tmp_path: Path) -> None:
    """A model built in Python replaces the configured one; a method whose maps are constant
    gets its cost but no metric, and the reason."""
    images = make_image_folder(tmp_path / "images")
    cfg = compose_config(
        "data=imagefolder", f"data.root={images}", "method=center", "method.width=1e-9"
    )
    run(cfg, tmp_path / "run", zoo=tiny_zoo())
    table = read_per_image(tmp_path / "run")
    readable = table[~table["skipped"].str.startswith("cannot read")]
    assert readable["skipped"].str.startswith("invalid map").all()
    assert readable["insertion_auc"].isna().all() and (readable["forward"] == 1).all()


def test_interrupted_files_are_repaired_on_resume(tmp_path: Path) -> None:
    """Partial trailing lines and an image without all its rows are dropped and redone."""
    run_dir = folder_run(tmp_path, "+method@methods.gradcam=gradcam")
    finished = {name: (run_dir / name).read_text() for name in ("per_image.csv", "curves.jsonl")}
    rows = finished["per_image.csv"].splitlines(keepends=True)
    curves = finished["curves.jsonl"].splitlines(keepends=True)
    # Killed while writing the rows of the last image: its curves are there, one row and a half.
    (run_dir / "per_image.csv").write_text("".join(rows[:-2]) + rows[-2] + rows[-1][:10])
    (run_dir / "curves.jsonl").write_text("".join(curves) + curves[-1][:7])
    (run_dir / "summary.csv").unlink()
    cfg = compose_config(
        *TINY,
        "data=imagefolder",
        f"data.root={tmp_path / 'images'}",
        "+method@methods.gradcam=gradcam",
    )
    run(cfg, run_dir)
    assert drop_timing((run_dir / "per_image.csv").read_text()) == drop_timing(
        finished["per_image.csv"]
    )
    assert (run_dir / "curves.jsonl").read_text() == finished["curves.jsonl"]
    assert (run_dir / "summary.csv").exists()


def test_a_forgotten_method_alone_is_explained_again(tmp_path: Path) -> None:
    """forget + resume redoes one method: the other's rows stay as written (their seconds too, so
    it did not run again), and the files end as an uninterrupted run's, in data-set order."""
    both = ("+method@methods.gradcam=gradcam", "save_maps=true")
    run_dir = folder_run(tmp_path, *both)
    before = {name: (run_dir / name).read_text() for name in ("per_image.csv", "curves.jsonl")}
    maps_before = {p.name: dict(np.load(p)) for p in (run_dir / "maps").glob("*.npz")}
    gradcam_rows = [line for line in before["per_image.csv"].splitlines() if ",gradcam," in line]
    assert len(gradcam_rows) == len(IMAGES)

    assert forget(run_dir, ["clustercam"]) == len(IMAGES)
    assert set(read_per_image(run_dir)["method"]) == {"gradcam"}
    assert not (run_dir / "summary.csv").exists()
    assert all(np.load(p).files == ["gradcam"] for p in (run_dir / "maps").glob("*.npz"))
    assert "clustercam" not in (run_dir / "curves.jsonl").read_text()
    with pytest.raises(ValueError, match="no records of method sscam; its methods: gradcam"):
        forget(run_dir, ["sscam"])
    # Every method on one image too: those rows and that map go, the others stay.
    assert forget(run_dir, images=["img3"]) == 1
    assert "img3.npz" not in {p.name for p in (run_dir / "maps").glob("*.npz")}

    cfg = compose_config(*TINY, "data=imagefolder", f"data.root={tmp_path / 'images'}", *both)
    run(cfg, run_dir)
    after = (run_dir / "per_image.csv").read_text()
    assert drop_timing(after) == drop_timing(before["per_image.csv"])
    untouched = [line for line in after.splitlines() if ",gradcam," in line and "img3" not in line]
    assert untouched == [line for line in gradcam_rows if "img3" not in line]
    assert (run_dir / "curves.jsonl").read_text() == before["curves.jsonl"]
    for name, maps in maps_before.items():
        stored = np.load(run_dir / "maps" / name)
        assert sorted(stored.files) == sorted(maps)
        assert all(np.array_equal(stored[method], maps[method]) for method in maps)


def test_a_forgotten_method_may_come_back_with_other_options(tmp_path: Path) -> None:
    """Options of a method without records may change on resume (nothing was measured with
    them) and the stored config follows; a recorded method's options may not."""
    run_dir = folder_run(tmp_path, "+method@methods.gradcam=gradcam", "data.n_images=2")
    base = [*TINY, "data=imagefolder", f"data.root={tmp_path / 'images'}", "data.n_images=2",
            "+method@methods.gradcam=gradcam"]  # fmt: skip
    with pytest.raises(ConfigError, match=r"differs in method\.n_clusters"):
        run(compose_config(*base, "method.n_clusters=4"), run_dir)
    forget(run_dir, ["clustercam"])
    run(compose_config(*base, "method.n_clusters=4"), run_dir)
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["method"]["n_clusters"] == 4
    assert set(read_per_image(run_dir)["method"]) == {"clustercam", "gradcam"}


def test_forget_names_the_command_that_explains_again(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("- experiment=compare_all\n- seed=3\n")
    assert rerun_command(run_dir) == (
        f"python run.py experiment=compare_all seed=3 hydra.run.dir={run_dir}"
    )


def test_merged_shards_write_what_one_run_writes_byte_for_byte(tmp_path: Path) -> None:
    """A run split by hand into two shard folders (its own rows, so even the seconds agree)
    merges back to the same per_image.csv, curves.jsonl, summary.csv and summary.md."""
    run_dir = folder_run(tmp_path, "+method@methods.gradcam=gradcam")
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    lines = (run_dir / "per_image.csv").read_text().splitlines(keepends=True)
    curves = (run_dir / "curves.jsonl").read_text().splitlines(keepends=True)
    shards = []
    for index, images in enumerate((IMAGES[:3], IMAGES[3:])):
        shard = tmp_path / f"shard{index}"
        shard.mkdir()
        data = {**config["data"], "shard_index": index, "shard_count": 2}
        (shard / "config.yaml").write_text(yaml.safe_dump({**config, "data": data}))
        mine = [line for line in lines[1:] if line.split(",")[0] in images]
        (shard / "per_image.csv").write_text(lines[0] + "".join(mine))
        (shard / "curves.jsonl").write_text(
            "".join(c for c in curves if json.loads(c)["image_id"] in images)
        )
        shutil.copy(run_dir / "setup_cost.json", shard / "setup_cost.json")
        for image_maps in (run_dir / "maps").glob("*.npz"):  # overview.png's images
            if image_maps.stem in images:
                (shard / "maps").mkdir(exist_ok=True)
                shutil.copy(image_maps, shard / "maps" / image_maps.name)
        shards.append(str(shard))
    merge_main([*shards, "--out", str(tmp_path / "merged")])
    for name in ("per_image.csv", "curves.jsonl", "summary.csv", "summary.md"):
        assert (tmp_path / "merged" / "merged" / name).read_bytes() == (run_dir / name).read_bytes()
    assert "](overview.png)" in (run_dir / "summary.md").read_text()
    assert (tmp_path / "merged" / "merged" / "overview.png").is_file()
    with pytest.raises(SystemExit) as refused:  # one shard of two: a partial merge
        merge_main([shards[0], "--out", str(tmp_path / "half")])
    assert refused.value.code == 3
    assert (tmp_path / "half" / "merged.partial" / "missing.txt").read_text().split() == IMAGES[3:]
    (half,) = merge_main([shards[0], "--out", str(tmp_path / "half"), "--allow-partial"])
    assert not half.complete and half.n_images == 3


def test_a_submitit_sweep_says_where_its_progress_is_and_cleans_up(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The submitit launchers print nothing until every job ends: the sweep says where to look,
    and the unexpanded `.submitit/%j` folder submitit leaves is removed."""
    sweep = tmp_path / "sweep"
    config = OmegaConf.create({"hydra": {
        "sweep": {"dir": str(sweep)},
        "launcher": {"submitit_folder": "${hydra.sweep.dir}/.submitit/%j"},
    }})  # fmt: skip
    callback = RunDirCallback()
    (sweep / ".submitit" / "%j").mkdir(parents=True)
    callback.on_multirun_start(config)
    assert f"progress: tail -f {sweep}/.submitit/*/*_log.err" in capsys.readouterr().out
    (sweep / ".submitit" / "%j").mkdir()
    (sweep / ".submitit" / "123").mkdir()  # a job's own folder stays
    callback.on_multirun_end(config)
    assert [p.name for p in (sweep / ".submitit").iterdir()] == ["123"]
    assert capsys.readouterr().out.startswith("sweep done; one table of its jobs: python -m")


def test_resume_refuses_another_config(tmp_path: Path) -> None:
    run_dir = folder_run(tmp_path, "data.n_images=1")
    cfg = compose_config(
        *TINY,
        "data=imagefolder",
        f"data.root={tmp_path / 'images'}",
        "data.n_images=1",
        "method.n_clusters=2",
        "chunk_size=7",
    )
    with pytest.raises(ValueError, match=r"another config \(differs in method.n_clusters\)"):
        run(cfg, run_dir)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["batch_size=0"], "batch_size must be 'auto' or an integer >= 1, got 0"),
        (
            ["+method@methods.other=gradcam", "methods.other.name=clustercam"],
            "two different methods are named 'clustercam'",
        ),
        (["metrics.confidence.modes=[top10]"], "unknown confidence mode 'top10'"),
        (
            ["model._target_=clustercam.bench.zoo.load_model", "model.name=nope"],
            "unknown model 'nope'; choose one of efficientnet_lite0, efficientnet_lite1",
        ),
        (["data.root=/nonexistent"], "/nonexistent is not a folder; expected"),
    ],
)
def test_bad_values_get_clear_errors(tmp_path: Path, overrides: list[str], message: str) -> None:
    make_image_folder(tmp_path / "images")
    cfg = compose_config(*TINY, "data=imagefolder", f"data.root={tmp_path / 'images'}", *overrides)
    with pytest.raises(Exception, match=message):
        run(cfg, tmp_path / "run")


def drop_timing(csv_text: str) -> list[list[str]]:
    """The CSV cells without the wall-time columns, which differ from run to run."""
    lines = [line.split(",") for line in csv_text.splitlines()]
    keep = [i for i, name in enumerate(lines[0]) if name not in TIMING_COLUMNS]
    return [[cells[i] for i in keep] for cells in lines]


def runner(*overrides: str) -> list[str]:
    """`python run.py` on the tiny model; Hydra's flags (-m) must come before the overrides."""
    flags = [o for o in overrides if o.startswith("-")]
    settings = [o for o in overrides if not o.startswith("-")]
    return [sys.executable, str(ROOT / "run.py"), *flags, *TINY, *settings]


def runner_env() -> dict[str, str]:
    """Makes tests/toys.py importable by the run's `model._target_`."""
    tests = str(Path(__file__).parent)
    return {**os.environ, "PYTHONPATH": tests, "HF_HUB_OFFLINE": "1"}


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["method.n_clusters=0"], r"n_clusters \(K\) must be an integer >= 1, got 0"),
        (["method=pytorch_grad_cam", "method.name=GradCam"], "has no method 'GradCam'"),
    ],
)
def test_a_value_a_constructor_refuses_leaves_no_run(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    """`python run.py` with a value a method's constructor refuses: one line on stderr, exit code
    2, no resume command (no run started), no folder to resume by mistake."""
    run_dir = tmp_path / "runs" / "run"
    done = subprocess.run(
        runner(*overrides, f"hydra.run.dir={run_dir}"),
        env=runner_env(), cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and re.search(message, lines[0]), lines[0]
    assert "Error executing job" not in done.stdout + done.stderr
    assert "resume with" not in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_the_console_says_what_to_know_before_the_loop(tmp_path: Path) -> None:
    """run.log: the estimate, an untrained model, and fewer images than data.n_images asked;
    summary.md flags the untrained model too."""
    images = make_image_folder(tmp_path / "images")
    run_dir = tmp_path / "run"
    done = subprocess.run(
        runner("data=imagefolder", f"data.root={images}", "data.n_images=50",
               "model.weights=random", f"hydra.run.dir={run_dir}"),
        env=runner_env(), cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    log = (run_dir / "run.log").read_text()
    assert re.search(r"estimate: .* for 6 images on cpu \(.* per image; slowest clustercam", log)
    assert "model.weights=random: tiny is untrained" in log
    assert "data.n_images=50, but data imagefolder has only 6 images" in log
    assert "**tiny (model.weights=random): an untrained model.**" in (
        run_dir / "summary.md"
    ).read_text()


def readme_resume_command() -> list[str]:
    """The single-run resume command of README.md (Interrupting and resuming), as words."""
    readme = (ROOT / "README.md").read_text()
    line = re.search(r"^python run\.py \S+ hydra\.run\.dir=\S+$", readme, re.MULTILINE)
    assert line, "README.md shows no resume command"
    return shlex.split(line.group(0))


def test_readme_resume_command_resumes_a_stopped_run(tmp_path: Path) -> None:
    """The README's resume command, as printed, goes on with a run stopped by SIGTERM part way:
    same tables as one go. Run in a fresh folder, so its relative run folder lands there."""
    words = readme_resume_command()
    run_dir = tmp_path / words[-1].split("=", 1)[1]
    overrides = [w for w in words[2:] if not w.startswith("hydra.")]
    images = make_image_folder(tmp_path / "images")
    common = [
        "data=imagefolder",
        f"data.root={images}",
        "+model.delay=0.02",
        "+method@methods.gradcam=gradcam",
    ]
    reference = tmp_path / "reference"
    run(compose_config(*TINY, *common, *overrides), reference)
    command = [sys.executable, str(ROOT / "run.py"), *words[2:], *TINY, *common]
    log = tmp_path / "first.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            command, env=runner_env(), cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT
        )
        table = run_dir / "per_image.csv"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            if table.exists() and table.read_text().count("\n") >= 1 + 2 * 2:  # 2 images done
                process.send_signal(signal.SIGTERM)
                break
            time.sleep(0.01)
        assert process.wait(timeout=60) == 143, log.read_text()
    printed = [line for line in log.read_text().splitlines() if "hydra.run.dir=" in line]
    assert len(printed) == 2 and "interrupted" in printed[1], printed  # at start, on SIGTERM
    assert all(words[-1] in line for line in printed)
    assert not (run_dir / "summary.csv").exists()
    resumed = subprocess.run(
        command, env=runner_env(), cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    run_log = (run_dir / "run.log").read_text()
    assert "already done" in run_log
    assert "skipped image img2_broken: cannot read image" in run_log
    assert drop_timing((run_dir / "per_image.csv").read_text()) == drop_timing(
        (reference / "per_image.csv").read_text()
    )
    assert_summaries_equal(reference, run_dir)
    assert (run_dir / "curves.jsonl").read_text() == (reference / "curves.jsonl").read_text()


def assert_summaries_equal(a: Path, b: Path) -> None:
    """Summaries equal up to the means and intervals of the wall-time columns."""
    first, second = (pd.read_csv(p / "summary.csv") for p in (a, b))
    timing = [c for c in first.columns if c.startswith(TIMING_COLUMNS)]
    pd.testing.assert_frame_equal(first.drop(columns=timing), second.drop(columns=timing))


def test_multirun_sweep_is_gathered(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    images = make_image_folder(tmp_path / "images")
    sweep = tmp_path / "sweep"
    done = subprocess.run(
        runner(
            "-m",
            "method.n_clusters=2,4",
            "data=imagefolder",
            f"data.root={images}",
            "data.n_images=2",
            f"hydra.sweep.dir={sweep}",
        ),
        env=runner_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last == f"sweep done; one table of its jobs: python -m clustercam.bench.gather {sweep}"
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 2 and all("method.n_clusters-" in job for job in jobs), jobs
    table = gather(sweep)
    assert list(table["method.n_clusters"]) == [2, 4]
    assert list(table["method"]) == ["clustercam"] * 2
    assert (table["forward_mean"] <= table["method.n_clusters"] + 1).all()
    main([str(sweep)])
    printed = capsys.readouterr().out
    short = printed.splitlines()[:4]  # the short table: header, rule, one row per job
    header = [cell.strip() for cell in short[0].strip("|").split("|")]
    assert header[:3] == ["method.n_clusters", "method", "N"] and len(header) < 16, header
    assert "Deletion AUC ↓" in header and "Forward ↓" in header
    assert [row.split("|")[1].strip() for row in short[2:]] == ["2", "4"]
    assert (sweep / "gathered.md").read_text().splitlines()[:4] == short
    assert pd.read_csv(sweep / "gathered.csv").equals(table)
    assert (sweep / "fig3_k_tradeoff.png").read_bytes().startswith(b"\x89PNG")
    older = table.drop(columns=[c for c in table.columns if c.startswith("deletion_auc")])
    assert "Deletion AUC ↓" not in short_table(older)  # a summary from before a column existed
    assert printed.strip().endswith("fig3_k_tradeoff.png")


@pytest.mark.slow
def test_default_run_on_the_real_model(tmp_path: Path) -> None:
    """`python run.py` as shipped (efficientnet_lite0, bundled photos, Cluster-CAM), 2 photos."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "data.n_images=2", f"hydra.run.dir={tmp_path}"],
        env=runner_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["method"].tolist() == ["clustercam"]
    assert summary["forward_mean"].item() == 9.0
    assert 0 < summary["insertion_auc_mean"].item() <= 1
