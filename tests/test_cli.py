"""`python run.py` for a person: folder names Hydra takes back, bad values refused before anything
is written (one line, exit code 2, no folder), a refused resume that leaves the folder as it was."""

from __future__ import annotations

import logging
import re
import runpy
import sys
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import yaml
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from runner_support import CONFIGS, ROOT, TINY, compose_config, make_image_folder

from clustercam.bench import run_command
from clustercam.bench.run_command import refuse_unknown_overrides
from clustercam.bench.schema import run_folder_name
from clustercam.bench.validate import target_layer_shape


def test_run_folder_names_parse_unquoted() -> None:
    assert run_folder_name("2026-01-01_12-00-00", "") == "2026-01-01_12-00-00"
    name = run_folder_name(
        "2026-01-01_12-00-00",
        "data.classes-[1,n01440764]__method.n_clusters-4__model.name-timm:x/y__+m@methods.g-g",
    )
    assert name == (
        "2026-01-01_12-00-00_data.classes--1-n01440764-__method.n_clusters-4__model.name-timm-x-y"
        "__+m@methods.g-g"
    )
    parsed = OverridesParser.create().parse_override(f"hydra.run.dir=results/runs/{name}")
    assert parsed.value() == f"results/runs/{name}"


def run_main(
    monkeypatch: pytest.MonkeyPatch, folder: Path, *overrides: str, tiny: bool = True
) -> int:
    """`python run.py *overrides` in-process, in `folder` (on the tiny model unless `tiny` is
    False); returns the exit code."""
    monkeypatch.chdir(folder)
    flags = [o for o in overrides if o.startswith("-")]  # Hydra's flags come first
    settings = [o for o in overrides if not o.startswith("-")]
    model = TINY if tiny else []
    monkeypatch.setattr(sys, "argv", [str(ROOT / "run.py"), *flags, *model, *settings])
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # Hydra configures logging for the run
    GlobalHydra.instance().clear()
    try:
        runpy.run_path(str(ROOT / "run.py"), run_name="__main__")
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        GlobalHydra.instance().clear()
        root.handlers[:] = handlers
        root.setLevel(level)
    return 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["method.n_clusters=9"], "n_clusters=9 of method 'clustercam' exceeds the 8 channels"),
        (["chunk_size=0"], "chunk_size must be 'auto' or an integer >= 1, got 0"),
        (["batch_size=-1"], "batch_size must be 'auto' or an integer >= 1, got -1"),
        (["data.n_images=0"], "data.n_images must be >= 1"),
        (["data=imagefolder", "data.root=missing"], "missing is not a folder"),
        (["+method.n_cluster=4"], "unknown key method.n_cluster .*did you mean method.n_clusters"),
        (["device=cuda"], "use device=auto .* or device=cpu"),
        (["-m", "method.n_clusters=50,2"], "n_clusters=50 of method"),  # a sweep stops there
        # A key the config lacks, refused before Hydra refuses it its own way (exit 1, `+key`).
        (["method.K=0"], r"unknown key method.K .*; did you mean method.n_clusters\? valid keys"),
        (["+method.K=0"], r"unknown key method.K .*; did you mean method.n_clusters\?"),
        (["-m", "method=rise", "method.N=10,20"], "did you mean method.n_masks"),
        (["metrics.causal.stepp=3"], r"unknown key metrics.causal.stepp; did you mean metrics\."),
        # Refused by the methods' constructors, each built on the meta-device model first.
        (["method.n_clusters=0"], r"method \(clustercam\): n_clusters \(K\) must be an integer"),
        (["method.n_clusters=-3"], r"n_clusters \(K\) must be an integer >= 1, got -3"),
        (["method.lam=-1"], "lam must be >= 0, got -1"),
        (["method.cognition=foo"], "unknown cognition 'foo'; choose one of"),
        (
            ["method=pytorch_grad_cam", "method.name=GradCam"],
            "pytorch-grad-cam has no method 'GradCam'; did you mean GradCAM",
        ),
    ],
)
def test_bad_values_leave_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    overrides: list[str],
    message: str,
) -> None:
    if overrides == ["device=cuda"] and torch.cuda.is_available():
        pytest.skip("CUDA is present")
    code = run_main(monkeypatch, tmp_path, *overrides)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines  # no traceback, no "Error executing job"
    assert lines[0].startswith("error: ")
    assert re.search(message, lines[0]), lines[0]
    if "-m" not in overrides:
        assert "resume with" not in out  # no run started
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "overrides",
    [
        ["-m", "method.n_clusters=2,4", "+method@methods.gradcam=gradcam"],
        ["method=gradcam", "method.chunk_size=3"],  # GradCAM takes it: Hydra's `+` advice stands
        ["method.n_clusters=4", "--cfg", "job", "method.K=1"],  # flags: all left to Hydra
    ],
)
def test_overrides_hydra_takes_or_explains_are_left_to_it(overrides: list[str]) -> None:
    assert refuse_unknown_overrides(CONFIGS, overrides) is None


def test_interrupted_before_the_run_started_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Ctrl-C while the config is checked or the weights load: nothing to resume, no folder."""

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(run_command, "load", interrupted)
    assert run_main(monkeypatch, tmp_path) == 130
    out, err = capsys.readouterr()
    assert err.strip() == "interrupted before the run started; nothing was written"
    assert "resume with" not in out
    assert list(tmp_path.iterdir()) == []


def test_missing_weights_offline_leave_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """`python run.py method=clustercam model=vgg16` offline, without the weights file: the zoo's
    message on one line, exit code 2, no folder (the weights load before anything is written)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(*args: object, **kwargs: object) -> None:
        raise URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    runs = tmp_path / "runs"
    runs.mkdir()
    code = run_main(
        monkeypatch, runs, "method=clustercam", "model=vgg16", "device=cpu", "data.n_images=1",
        tiny=False,
    )  # fmt: skip
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    checkpoint = tmp_path / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert lines[0].startswith("error: could not load the ImageNet weights of vgg16")
    assert str(checkpoint) in lines[0] and "model.weights=random" in lines[0]
    assert "resume with" not in out
    assert list(runs.iterdir()) == []


def test_refused_resume_leaves_the_folder_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    images = make_image_folder(tmp_path / "images")
    common = ["data=imagefolder", f"data.root={images}", "data.n_images=1", "hydra.run.dir=run"]
    assert run_main(monkeypatch, tmp_path, *common) == 0
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert tmp_path / "run" / ".hydra" / "overrides.yaml" in before
    assert run_main(monkeypatch, tmp_path, *common, "method.n_clusters=2") == 2
    assert "another config (differs in method.n_clusters)" in capsys.readouterr().err
    after = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert after == before


def test_layer_shapes_come_from_the_meta_device() -> None:
    """K is checked against these without loading weights (README: the models' target layers)."""
    assert target_layer_shape(compose_config("model=vgg16").model) == (
        "vgg16", "features.29", (512, 14, 14)
    )  # fmt: skip
    assert target_layer_shape(compose_config("model=resnet18").model)[2] == (512, 7, 7)


def test_help_shows_the_readme_resume_command() -> None:
    readme = (ROOT / "README.md").read_text()
    resume = re.search(r"^python run\.py \S+ hydra\.run\.dir=\S+$", readme, re.MULTILINE)
    help_template = yaml.safe_load((CONFIGS / "config.yaml").read_text())["hydra"]["help"]
    assert resume and resume.group(0) in help_template["template"]
    assert "$APP_CONFIG_GROUPS" in help_template["template"]
