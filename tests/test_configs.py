"""Every config in configs/ composes, and what it names can be built (methods on a toy model)."""

from __future__ import annotations

import inspect
import re

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException, MissingConfigException
from hydra.utils import get_class, instantiate
from runner_support import CONFIGS, compose_config
from toys import TinyNet

from clustercam import CAMMethod
from clustercam.bench import MODELS
from clustercam.bench.build import build_metrics, build_samples, method_configs
from clustercam.bench.zoo import load_model
from metrics import PRESETS, CausalMetric


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


def build_and_call(cfg) -> dict[str, CAMMethod]:
    """Instantiates the run's methods on a toy model and explains one image with each.

    64 px, not 16: blur_gain's default Gaussian kernel (51 px) needs an image at least that big.
    """
    model = TinyNet().eval()
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    methods = {
        name: instantiate(options, model=model, target_layer="features")
        for name, options in method_configs(cfg).items()
    }
    for name, method in methods.items():
        explanation = method(image)
        assert explanation.maps.shape == (1, 64, 64), name
    return methods


def test_every_method_class_has_a_config_and_every_config_names_one() -> None:
    """A method added to baselines/ or clustercam without a configs/method file (or a config
    naming no method) fails here; each config is built and called in test_method_option."""
    import baselines
    import clustercam

    exported = {
        value
        for module in (baselines, clustercam)
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, CAMMethod) and not inspect.isabstract(value)
    }
    targets = {
        get_class(compose_config(f"method={name}").method._target_) for name in options("method")
    }
    assert exported - targets == set()  # the adapters' targets are the only other ones


def test_every_model_config_is_a_zoo_model() -> None:
    assert set(options("model")) == {*MODELS, "timm"}


def test_default_config() -> None:
    cfg = compose_config()
    assert (cfg.method.name, cfg.model.name, cfg.data.name, cfg.metrics.preset) == (
        "clustercam",
        "efficientnet_lite0",
        "samples",
        "fast",
    )
    assert (cfg.target, cfg.device, cfg.save_maps, dict(cfg.methods)) == (
        "predicted",
        "auto",
        False,
        {},
    )
    assert len(build_samples(cfg.data)) == 22


# RISE's 4000 masks are minutes on 2 CPU cores even for the toy model; 40 build the same object.
FEW_MASKS = {
    "rise": ("method.n_masks=40",),
    **{name: ("methods.rise.n_masks=40",) for name in ("compare_all", "compare_classic")},
}
ADAPTERS = {"pytorch_grad_cam": "pytorch_grad_cam", "torchcam": "torchcam"}  # option: module


@pytest.mark.parametrize("option", options("method"))
def test_method_option(option: str) -> None:
    if option in ADAPTERS:
        pytest.importorskip(ADAPTERS[option], reason="optional: pip install '.[adapters]'")
    cfg = compose_config(f"method={option}", *FEW_MASKS.get(option, ()))
    methods = build_and_call(cfg)
    assert list(methods) == ["GradCAM" if option in ADAPTERS else option]


@pytest.mark.parametrize("option", sorted(set(options("method")) - set(ADAPTERS)))
def test_method_config_repeats_its_class_defaults(option: str) -> None:
    """A method's defaults are declared by its class; the config may only repeat them (the seed
    and chunk size come from the run), so the Python API and run.py explain alike."""
    config = method_configs(compose_config(f"method={option}"))[option]
    parameters = inspect.signature(get_class(config.pop("_target_"))).parameters
    own = {"groupcam_kmeans": "grouping", "scorecam_softmax": "variant"}.get(option)  # its point
    repeated = {k: v for k, v in config.items() if k not in ("seed", "chunk_size", own)}
    assert set(repeated) <= set(parameters), sorted(set(repeated) - set(parameters))
    assert repeated == {k: parameters[k].default for k in repeated}


@pytest.mark.parametrize("option", list(ADAPTERS))
def test_adapter_name_picks_the_library_class(option: str) -> None:
    pytest.importorskip(ADAPTERS[option], reason="optional: pip install '.[adapters]'")
    methods = build_and_call(compose_config(f"method={option}", "method.name=LayerCAM"))
    assert list(methods) == ["LayerCAM"]
    renamed = method_configs(
        compose_config(f"method={option}", "method.class_name=LayerCAM", "method.name=lib_layercam")
    )
    assert renamed["lib_layercam"]["class_name"] == "LayerCAM"


def test_method_options_reach_the_method() -> None:
    cfg = compose_config("method.n_clusters=3", "method.cognition=extremes", "seed=5")
    method = build_and_call(cfg)["clustercam"]
    assert (method.n_clusters, method.cognition, method.seed) == (3, "extremes", 5)
    softmax = build_and_call(compose_config("method=scorecam_softmax", "chunk_size=3"))
    assert softmax["scorecam_softmax"].variant == "channel_softmax"
    assert softmax["scorecam_softmax"].chunk_size == 3


@pytest.mark.parametrize("option", options("model"))
def test_model_option(option: str) -> None:
    cfg = compose_config(f"model={option}", "model.weights=random")
    assert cfg.model._target_ == "clustercam.bench.zoo.load_model"
    assert cfg.model.name in MODELS or cfg.model.name.startswith("timm:")
    if option in ("resnet18", "timm"):  # small enough to build here; test_zoo builds the rest
        zoo = instantiate(cfg.model)
        assert zoo.model.get_submodule(zoo.target_layer) is not None


def test_model_loader_is_the_zoo() -> None:
    assert (
        instantiate(
            {"_target_": "clustercam.bench.zoo.load_model"}, name="resnet18", weights="random"
        ).name
        == "resnet18"
    )
    assert load_model.__module__ == "clustercam.bench.zoo"


@pytest.mark.parametrize("option", ["imagenet_val", "imagefolder"])
def test_data_options_without_a_root_say_what_to_set(
    option: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMAGENET_VAL", raising=False)
    cfg = compose_config(f"data={option}")
    with pytest.raises(ValueError, match=r"set data\.root to .*wnid"):  # Hydra's wrapper off
        build_samples(cfg.data)


def test_data_subset_keys() -> None:
    cfg = compose_config("data.n_images=4", "data.shard_index=1", "data.shard_count=2")
    assert len(build_samples(cfg.data)) == 2


@pytest.mark.parametrize("option", options("metrics"))
def test_metrics_option(option: str) -> None:
    cfg = compose_config(f"metrics={option}")
    metrics = build_metrics(cfg.metrics, chunk_size=8)
    assert metrics.confidence_modes == ("continuous", "top50")
    expected = PRESETS["fast" if option == "full" else option]  # full: fast's curves, and more
    extra = (metrics.complexity, metrics.gain, metrics.adcc, metrics.metric_costs)
    assert all(extra) == (metrics.sensitivity is not None) == (option == "full")
    assert (metrics.road is not None) == (option == "full")
    for metric, kind in ((metrics.deletion, "deletion"), (metrics.insertion, "insertion")):
        assert isinstance(metric, CausalMetric) and metric.kind == kind
        assert (metric.step, metric.blur_kernel, metric.blur_sigma) == (
            expected.step,
            expected.blur_kernel,
            expected.blur_sigma,
        )
    assert (metrics.deletion.substrate, metrics.insertion.substrate) == ("zeros", "blur")


def test_metrics_can_be_switched_off() -> None:
    cfg = compose_config("metrics.deletion=null", "metrics.confidence.modes=[]")
    metrics = build_metrics(cfg.metrics, chunk_size=8)
    assert metrics.deletion is None and metrics.insertion is not None
    assert metrics.confidence_modes == ()


@pytest.mark.filterwarnings("ignore:k >= N")  # spectral clustering of 8 toy channels
@pytest.mark.parametrize("option", options("experiment"))
def test_experiment_option(option: str) -> None:
    cfg = compose_config(f"experiment={option}", *FEW_MASKS.get(option, ()))
    names = list(build_and_call(cfg))
    assert names[0] == "clustercam"
    assert len(names) == len(set(names)) == 1 + len(cfg.methods)
    build_metrics(cfg.metrics, chunk_size=8)


def test_compare_all_runs_every_method_once() -> None:
    names = method_configs(compose_config("experiment=compare_all"))
    assert list(names) == [
        "clustercam",
        "gradcam",
        "gradcampp",
        "scorecam",
        "random",
        "center",
        "groupcam",
        "groupcam_kmeans",
        "ablationcam",
        "rise",
        "eigencam",
        "layercam",
        "sscam",
        *RIVALS,
    ]


RIVALS = ["hirescam", "xgradcam", "reciprocam", "fem", "kpcacam", "cfcam", "opticam"]


def test_rivals_runs_the_rivals_beside_cluster_cam() -> None:
    assert list(method_configs(compose_config("experiment=rivals"))) == ["clustercam", *RIVALS]


def test_cluster_variants_change_one_choice_each() -> None:
    configs = method_configs(compose_config("experiment=cluster_variants"))
    default = configs.pop("clustercam")
    changed = {name: {k for k in c if c[k] != default[k]} for name, c in configs.items()}
    assert changed == {
        "cc_farthest": {"init"},
        "cc_kmeans_sklearn": {"clustering"},
        "cc_agglomerative": {"clustering"},
        "cc_spectral": {"clustering"},
        "cc_normalized_features": {"features"},
        "cc_blur_gain": {"score"},
        "cc_centered": {"cognition"},
        "cc_extremes": {"cognition"},
        "cc_weighted": {"cognition"},
    }


def test_protocol_experiments() -> None:
    paper = compose_config("experiment=scorecam_paper")
    assert (paper.model.name, paper.data.name, paper.data.n_images) == (
        "vgg16",
        "imagenet_val",
        2000,
    )
    assert set(paper.metrics.confidence.modes) == {"top50", "continuous"}
    assert compose_config("experiment=scorecam_paper", "seed=7").data.seed == paper.data.seed
    rise = compose_config("experiment=rise_protocol")
    assert (rise.metrics.preset, rise.model.name) == ("rise", "resnet50")


def test_k_sweep_is_a_multirun_over_k() -> None:
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=k_sweep"], return_hydra_config=True)
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    values = cfg.hydra.sweeper.params["method.n_clusters"].split(",")
    assert [int(v) for v in values] == [2, 4, 8, 16, 32, 64, 128]


def test_imagenet_shards_sweeps_every_shard_and_method() -> None:
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=["experiment=imagenet_shards", "data.shard_count=5"],
            return_hydra_config=True,
        )
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert cfg.hydra.sweeper.params["data.shard_index"] == "range(0,5)"
    methods = cfg.hydra.sweeper.params["method"].split(",")
    assert methods == ["clustercam", "gradcam", "gradcampp", "scorecam", "random", "center"]
    assert (cfg.model.name, cfg.data.name, cfg.metrics.preset) == ("vgg16", "imagenet_val", "rise")


def test_output_dirs() -> None:
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        cfg = compose("config", overrides=["seed=3"], return_hydra_config=True)
    # The job's overrides name its folder, in characters Hydra takes back unquoted.
    assert re.fullmatch(r"results/runs/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_seed-3", cfg.hydra.run.dir)
    assert cfg.hydra.sweep.dir.startswith("results/multiruns/")
    cfg.hydra.job.num = 5  # set by Hydra for each job of a sweep; not in the folder name, so a
    assert cfg.hydra.sweep.subdir == "seed-3"  # resubmitted job resumes its own folder
    assert cfg.hydra.job.name == "run"
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        plain = compose("config", return_hydra_config=True)
    assert re.fullmatch(r"results/runs/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", plain.hydra.run.dir)


@pytest.mark.parametrize("override", ["method=nope", "model=nope", "data=nope", "metrics=nope"])
def test_unknown_group_options_list_the_valid_ones(override: str) -> None:
    group = override.split("=")[0]
    with pytest.raises(MissingConfigException, match=f"Available options in '{group}'") as error:
        compose_config(override)
    assert all(option in str(error.value) for option in options(group))


def test_unknown_experiment_is_refused() -> None:
    with pytest.raises((MissingConfigException, ConfigCompositionException)):
        compose_config("experiment=nope")


@pytest.mark.parametrize(
    "override, message",
    [
        ("target=best", "Invalid value 'best', expected one of [predicted, label]"),
        ("device=tpu", "Invalid value 'tpu', expected one of [cpu, cuda, auto]"),
        ("precision=fp8", "Invalid value 'fp8', expected one of [fp32, bf16, fp16]"),
    ],
)
def test_bad_top_level_values_are_refused_by_hydra(override: str, message: str) -> None:
    with pytest.raises(
        ConfigCompositionException, match=f"Error merging override {override}"
    ) as error:
        compose_config(override)
    assert message in str(error.value.__cause__)
