"""Every value a method's constructor refuses is refused by validate.check, before anything is
written: each method is constructed there with the run's options on the model built on the meta
device. One bad value per check of every configs/method/*.yaml method's constructor (and of the
metrics and the zoo), and a guard that a check added to a constructor gets its case here."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf
from runner_support import CONFIGS, TINY, compose_config

from clustercam.bench.errors import ConfigError
from clustercam.bench.validate import check

# The class whose __init__ holds the check -> (overrides, the message expected) per check.
CASES: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "CAMMethod": [(("method.chunk_size=0",), r"method \(clustercam\): chunk_size must be >= 1")],
    "ClusterCAM": [
        (("method.n_clusters=0",), r"n_clusters \(K\) must be an integer >= 1, got 0"),
        (("method.clustering=dbscan",), "unknown clustering 'dbscan'; choose one of kmeans"),
        (("method.init=random",), "unknown init 'random'; choose one of"),
        (("method.select=best",), "unknown select 'best'; choose one of"),
        (("method.cluster_precision=float16",), "unknown cluster_precision 'float16'"),
        (("method.n_init=0",), "n_init and max_iter must be >= 1 and tol >= 0"),
        (("method.features=pca",), "unknown features 'pca'; choose one of normalized, raw"),
        (("method.score=gain",), "unknown score 'gain'; choose one of masked, blur_gain"),
        (("method.cognition=foo",), "unknown cognition 'foo'; choose one of"),
        (("method.lam=-1",), "lam must be >= 0, got -1"),
    ],
    "RISE": [
        (("method=rise", "method.n_masks=0"), r"method \(rise\): n_masks \(N\) must be an integer"),
        (("method=rise", "method.cells=0"), r"cells \(s\) must be an integer >= 1"),
        (("method=rise", "method.keep_probability=0"), r"keep_probability \(p\) must be in"),
    ],
    "SSCAM": [
        (("method=sscam", "method.n_samples=0"), "n_samples must be an integer >= 1"),
        (("method=sscam", "method.seed=-1"), "seed must be >= 0, got -1"),
        (("method=sscam", "method.sigma=-1"), "sigma must be >= 0"),
        (("method=sscam", "method.noise_on=output"), "unknown noise_on 'output'"),
    ],
    "ScoreCAM": [
        (("method=scorecam", "method.variant=foo"), "unknown Score-CAM variant 'foo'"),
    ],
    "FEM": [
        (("method=fem", "method.k=-1"), r"k \(the sigma multiple\) must be a finite number >= 0"),
        (("method=fem", "method.variant=foo"), "unknown variant 'foo'"),
    ],
    "GroupCAM": [
        (("method=groupcam", "method.groups=0"), r"groups \(G\) must be an integer >= 1"),
        (("method=groupcam", "method.grouping=foo"), "unknown grouping 'foo'"),
        (("method=groupcam", "method.denoise_percentile=100"), r"denoise_percentile must be in"),
    ],
    "KPCACAM": [
        (("method=kpcacam", "method.kernel=foo"), "unknown kernel 'foo'"),
        (("method=kpcacam", "method.gamma=0"), "gamma must be a finite number > 0 or None"),
    ],
    "ReciproCAM": [(("method=reciprocam", "method.kernel=foo"), "unknown kernel 'foo'")],
    "CFCAM": [(("method=cfcam", "method.weighting=max"), "unknown weighting 'max'")],
    "OptiCAM": [
        (("method=opticam", "method.iterations=0"), "iterations must be an integer >= 1"),
        (("method=opticam", "method.learning_rate=0"), "learning_rate must be a finite number > 0"),
    ],
    "CenterMap": [(("method=center", "method.width=0"), "width must be positive, got 0")],
    "PytorchGradCAM": [
        (
            ("method=pytorch_grad_cam", "method.name=GradCam"),
            r"method \(GradCam\): pytorch-grad-cam has no method 'GradCam'; did you mean GradCAM",
        ),
        (("method=pytorch_grad_cam", "+method.options.nope=1"), "GradCAM takes no option 'nope'"),
    ],
    "TorchCAM": [
        (("method=torchcam", "method.name=GradCam"), "torchcam has no method 'GradCam'"),
        (("method=torchcam", "+method.options.nope=1"), "unexpected keyword .*nope"),
    ],
    # Not methods: the metrics' and the zoo's own checks, on the same path.
    "CausalMetric": [
        (("metrics.deletion.kind=foo",), "unknown causal metric 'foo'"),
        (("metrics.deletion.substrate=foo",), "unknown substrate 'foo'"),
        (("metrics.causal.step=0",), "step must be >= 1 pixel, got 0"),
    ],
}
# The zoo's checks, on the real model configs (built on the meta device: nothing downloaded).
ZOO_CASES = [
    (("model=resnet18", "model.weights=foo"), "weights must be 'imagenet' or 'random'"),
    (("model=resnet18", "model.name=resnet19"), "unknown model 'resnet19'; choose one of"),
    (("model=resnet18", "model.target_layer=layer9"), "target layer 'layer9' is not a module"),
    (("model=timm", "model.target_layer=null"), "has no default target layer; set target_layer"),
]
CHECKS = [
    pytest.param(overrides, message, id=f"{owner}:{' '.join(overrides)}")
    for owner, cases in CASES.items()
    for overrides, message in cases
]


@pytest.mark.parametrize(("overrides", "message"), CHECKS)
def test_every_constructor_check_refuses_before_the_run(
    tmp_path: Path, overrides: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        check(compose_config(*TINY, *overrides), tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("overrides", "message"), [pytest.param(*case, id=" ".join(case[0])) for case in ZOO_CASES]
)
def test_every_zoo_check_refuses_before_the_run(
    tmp_path: Path, overrides: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        check(compose_config(*overrides), tmp_path / "run")


def constructor_checks(cls: type) -> int:
    """How many checks the class's own __init__ makes: check_choice and check_count calls and
    `raise` statements."""
    if "__init__" not in vars(cls):
        return 0
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))
    count = 0
    for node in ast.walk(tree):
        called = getattr(node.func, "id", "") if isinstance(node, ast.Call) else ""
        if isinstance(node, ast.Raise) or called in ("check_choice", "check_count"):
            count += 1
    return count


def test_every_method_constructor_check_has_a_case() -> None:
    """A check added to a method's constructor (or a class of its own) needs a case above."""
    owners: dict[str, int] = {}
    for path in sorted((CONFIGS / "method").glob("*.yaml")):
        target = OmegaConf.load(path).get("_target_")
        if target is None:  # an option built on another one (groupcam_kmeans on groupcam)
            continue
        for cls in get_class(target).__mro__:
            if cls.__module__.split(".")[0] in ("clustercam", "baselines"):
                owners[cls.__name__] = constructor_checks(cls)
    assert {"ClusterCAM", "CAMMethod", "PytorchGradCAM", "TorchCAM"} <= set(owners)
    missing = {
        name: (n, len(CASES.get(name, [])))
        for name, n in owners.items()
        if len(CASES.get(name, [])) < n
    }
    assert missing == {}, f"class: (checks in __init__, cases here): {missing}"
