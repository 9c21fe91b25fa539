"""Shards through Hydra's submitit launcher (real submitit processes), preemption, kills, merge."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from runner_support import ROOT, TINY, compose_config, make_image_folder
from test_experiment import assert_summaries_equal, drop_timing

from clustercam.bench.experiment import run
from clustercam.bench.merge import main as merge_main
from clustercam.bench.sweeps import job_dirs

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the `cluster` extra")
from submitit.local.local import LocalJobEnvironment

RIDE_ALONG = "+method@methods.gradcam=gradcam"
SHARDS = ["-m", "hydra/launcher=local", "data.shard_count=2"]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("shards") / "images")


@pytest.fixture(scope="module")
def unsharded(images: Path) -> Path:
    """One unsharded run of what the shards split: the reference every merge must equal."""
    folder = images.parent / "unsharded"
    run(compose_config(*TINY, "data=imagefolder", f"data.root={images}", RIDE_ALONG), folder)
    return folder


def sweep_command(images: Path, sweep: Path, *overrides: str, shards: str = "0,1") -> list[str]:
    """`python run.py -m` of the `shards` of the tiny run, as local submitit jobs."""
    settings = [*TINY, "data=imagefolder", f"data.root={images}", RIDE_ALONG, *overrides]
    settings.append(f"data.shard_index={shards}")
    return [sys.executable, str(ROOT / "run.py"), *SHARDS, *settings, f"hydra.sweep.dir={sweep}"]


def sweep_env() -> dict[str, str]:
    """The job processes unpickle the run: they import this checkout and tests/toys.py."""
    path = os.pathsep.join([str(Path(__file__).parent), str(ROOT)])
    return {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}


def assert_same_run(merged: Path, reference: Path) -> None:
    """Per-image records, curves and summary of `merged` are those of `reference`."""
    assert drop_timing((merged / "per_image.csv").read_text()) == drop_timing(
        (reference / "per_image.csv").read_text()
    )
    assert (merged / "curves.jsonl").read_text() == (reference / "curves.jsonl").read_text()
    assert_summaries_equal(reference, merged)


def task_pid(job: Path) -> int | None:
    """The running task of a submitit local job: the child of its controller, whose pid is the
    job id Hydra wrote into the job's .hydra/hydra.yaml."""
    hydra_file = job / ".hydra" / "hydra.yaml"
    if not hydra_file.is_file():
        return None
    controller = yaml.safe_load(hydra_file.read_text())["hydra"]["job"]["id"]
    children = Path(f"/proc/{controller}/task/{controller}/children")
    pids = children.read_text().split() if children.exists() else []
    return int(pids[0]) if pids else None


def images_done(job: Path) -> int:
    table = job / "per_image.csv"
    return table.read_text().count("\n") // 2 - 1 if table.exists() else 0  # 2 methods, header


def shard_jobs(sweep: Path) -> dict[int, Path]:
    return {
        int(yaml.safe_load((job / "config.yaml").read_text())["data"]["shard_index"]): job
        for job in job_dirs(sweep)
        if (job / "config.yaml").exists()
    }


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds job processes in /proc")
def test_shards_through_submitit_merge_to_the_unsharded_run(
    images: Path, unsharded: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Two shards as real submitit jobs. Shard 0 gets the preemption signal part way (submitit
    requeues it; it resumes from its records); shard 1 is killed part way (the sweep fails), a
    merge then is partial, and shard 1 submitted again finishes it: the merged records, curves,
    summary and config equal the unsharded run's. (One test for all three: each submitit job is
    a Python process of its own, seconds to start.)"""
    sweep = tmp_path / "sweep"
    command = sweep_command(images, sweep, "+model.delay=0.05")
    process = subprocess.Popen(
        command, env=sweep_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    preempted = killed = False
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None and not (preempted and killed):
        jobs = shard_jobs(sweep) if sweep.exists() else {}
        for index, job in jobs.items():
            pid = task_pid(job)
            if pid is None or images_done(job) < 1:
                continue
            if index == 0 and not preempted:
                os.kill(pid, LocalJobEnvironment._usr_sig())
                preempted = True
            elif index == 1 and not killed:
                os.kill(pid, signal.SIGKILL)
                killed = True
        time.sleep(0.02)
    assert preempted and killed, "the shards finished before they were interrupted"
    assert process.wait(timeout=240) != 0  # the killed shard failed the sweep
    jobs = shard_jobs(sweep)
    assert "already done" in (jobs[0] / "run.log").read_text()  # requeued, and resumed
    assert not (jobs[1] / "summary.csv").exists()

    with pytest.raises(SystemExit) as refused:
        merge_main([str(sweep)])
    assert refused.value.code == 3  # partial: written, and said by the exit code
    (partial,) = merge_main([str(sweep), "--allow-partial"])
    assert not partial.complete and partial.folder.name.endswith(".partial")
    missing = (partial.folder / "missing.txt").read_text().split()
    assert 0 < len(missing) == partial.n_expected - partial.n_images
    assert (partial.folder / "summary.md").read_text().startswith("PARTIAL: ")
    assert len(pd.read_csv(partial.folder / "per_image.csv")) == 2 * partial.n_images

    resubmit = sweep_command(images, sweep, "+model.delay=0.05", shards="1")
    again = subprocess.run(resubmit, env=sweep_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    capsys.readouterr()
    (result,) = merge_main([str(sweep), "--report"])
    assert result.complete and not partial.folder.exists()
    assert result.folder == sweep / "merged" / result.name and "shard_index" not in result.name
    assert "PARTIAL" not in capsys.readouterr().out
    assert "already done" in (jobs[1] / "run.log").read_text()
    assert_same_run(result.folder, unsharded)
    merged_config = yaml.safe_load((result.folder / "config.yaml").read_text())
    assert merged_config == {
        **yaml.safe_load((unsharded / "config.yaml").read_text()),
        "model": {**merged_config["model"], "delay": 0.05},
    }
    assert (sweep / "merged" / "report" / "table1_confidence.csv").is_file()


def shard_runs(
    images: Path, root: Path, count: int, *overrides: str, only: int | None = None
) -> list[Path]:
    """The shards of one run (or shard `only`), each run in-process into its own folder."""
    folders = []
    for index in range(count) if only is None else [only]:
        folder = root / f"shard{index}"
        settings = [*TINY, "data=imagefolder", f"data.root={images}", RIDE_ALONG, *overrides]
        shard = [f"data.shard_index={index}", f"data.shard_count={count}"]
        run(compose_config(*settings, *shard), folder)
        folders.append(folder)
    return folders


def test_merge_of_run_folders_and_its_refusals(images: Path, tmp_path: Path) -> None:
    """Shard folders run by hand merge too; shards of two configs, or one shard twice, do not."""
    shards = shard_runs(images, tmp_path, 3, "data.n_images=4")
    whole = tmp_path / "whole"
    run(compose_config(*TINY, "data=imagefolder", f"data.root={images}", RIDE_ALONG,
                       "data.n_images=4"), whole)  # fmt: skip
    (result,) = merge_main([*map(str, shards), "--out", str(tmp_path / "merged")])
    assert result.complete
    assert_same_run(result.folder, whole)

    (other,) = shard_runs(
        images, tmp_path / "other", 3, "data.n_images=4", "method.n_clusters=2", only=1
    )
    with pytest.raises(ValueError, match=r"configs differ in method\.n_clusters"):
        merge_main([str(shards[0]), str(other), "--out", str(tmp_path / "x")])
    copy = tmp_path / "copy"
    shutil.copytree(shards[1], copy)
    with pytest.raises(ValueError, match="shard 1 appears in more than one folder"):
        merge_main([*map(str, shards), str(copy), "--out", str(tmp_path / "y")])
    doubled = tmp_path / "doubled"  # shard 1 also holding the first image of shard 0
    shutil.copytree(shards[1], doubled)
    first_image = (shards[0] / "per_image.csv").read_text().splitlines(keepends=True)[1:3]
    with open(doubled / "per_image.csv", "a") as table:
        table.writelines(first_image)
    with pytest.raises(ValueError, match=r"image img\d is in two shards"):
        merge_main([str(shards[0]), str(doubled), str(shards[2]), "--out", str(tmp_path / "z")])
