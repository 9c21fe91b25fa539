"""scripts/make_report.py on run directories with numbers known in advance.

The runs are written by the runner's own writer (clustercam.bench.run_folder.RunRecords) with the
config the runner stores (clustercam.bench.build.setup of a composed config), sweep jobs with
.hydra/overrides.yaml; only the numbers are chosen here, and the expected values are computed
from them, never read back from the report.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from runner_support import compose_config
from scipy import stats

from clustercam.bench import build
from clustercam.bench.data import SAMPLES_DIR
from clustercam.bench.method_registry import method_options
from clustercam.bench.report.cli import main
from clustercam.bench.report.figures import find_photo, k_tradeoff, model_view, saliency_grid
from clustercam.bench.report.render import latex_escape
from clustercam.bench.report.runs import Inputs, Run, discover, load_run
from clustercam.bench.report.tables import (
    Table,
    build_tables,
    causal_table,
    confidence_table,
    method_label,
)
from clustercam.bench.run_folder import RunRecords
from clustercam.bench.stats import mean_ci

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGES = [f"img{i}" for i in range(5)]
METHODS = ["clustercam", "gradcam", "scorecam"]
FORWARD = {"gradcam": 1.0, "scorecam": 400.0, "clustercam": 9.0}
SECONDS = {"gradcam": 0.01, "scorecam": 2.0, "clustercam": 0.05}
SKIPPED = ("clustercam", "img4")
METRIC_OFFSETS = {
    "drop_continuous": 1,
    "drop_top50": 2,
    "increase_continuous": 3,
    "increase_top50": 4,
    "deletion_auc": 5,
    "insertion_auc": 6,
}
TABLES = [
    "table1_confidence",
    "table2_deletion_insertion",
    "table3_cost",
    "table4_k_ablation",
    "table5_variants",
]
Report = tuple[Path, list[Path], Inputs]


def expected(method: str, column: str) -> np.ndarray:
    """The per-image values written for `column`: fixed per method, NaN on the skipped row."""
    seed = sum(map(ord, method)) * 7 + METRIC_OFFSETS[column]
    values = np.random.default_rng(seed).uniform(0.0, 1.0, len(IMAGES))
    if column.startswith("drop"):
        values = 100 * values
    if column.startswith("increase"):
        values = (values > 0.5).astype(float)
    if method == SKIPPED[0]:
        values[IMAGES.index(SKIPPED[1])] = np.nan
    return values


def method_config(name: str) -> dict[str, object]:
    """A method entry as the runner stores it: the registry's options, under the report name."""
    if name in ("gradcam", "scorecam"):
        return {"name": name, **method_options(name)}
    cognition = name.removeprefix("cc_") if name.startswith("cc_") else "centered"
    return {"name": name, **method_options("clustercam", {"cognition": cognition})}


def run_config(model: str, preset: str, modes: tuple[str, ...]) -> dict[str, Any]:
    """The config.yaml the runner stores for `python run.py model=<model> metrics=<preset>`."""
    listed = f"metrics.confidence.modes=[{','.join(modes)}]"
    return build.setup(compose_config(f"model={model}", f"metrics={preset}", listed)).config


def make_run(
    root: Path,
    *,
    model: str = "efficientnet_lite0",
    preset: str = "rise",
    modes: tuple[str, ...] = ("continuous", "top50"),
    methods: list[str] = METHODS,
    overrides: list[str] | None = None,
    extras: bool = True,
    forward_scale: float = 1.0,
) -> Path:
    """Writes one run directory through the runner's own writer (RunRecords) and config, with
    the numbers above; `method.<key>=value` overrides land in `method`. Without `extras`, no
    curves and no maps."""
    first, *others = [method_config(m) for m in methods]
    for override in overrides or []:
        key, _, value = override.partition("=")
        if key.startswith("method."):
            first[key.split(".")[1]] = int(value) if value.isdigit() else value
    config = {**run_config(model, preset, modes), "method": first}
    config["methods"] = {str(m["name"]): m for m in others}
    root.mkdir(parents=True)
    if overrides is not None:
        (root / ".hydra").mkdir()
        (root / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    ramp = np.linspace(0, 1, 224 * 224, dtype=np.float16).reshape(224, 224)
    pixels = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    values = {method: {c: expected(method, c) for c in METRIC_OFFSETS} for method in methods}
    for mode in {"continuous", "top50"} - set(modes):
        for columns in values.values():
            columns[f"drop_{mode}"] = columns[f"increase_{mode}"] = np.full(len(IMAGES), np.nan)
    with RunRecords(root, methods, config) as records:
        if "cc_baseline" in methods:
            records.add_setup_cost("cc_baseline", {"forward": 1.0})
        for i, image in enumerate(IMAGES):
            Image.fromarray(pixels).save(root / f"{image}.png")
            rows, curves = [], []
            for method in methods:
                skipped = "invalid map" if (method, image) == SKIPPED else ""
                rows.append({
                    "image_id": image, "path": str(root / f"{image}.png"), "label": i,
                    "target": i, "target_name": f"class {i}", "probability": 0.5, "method": method,
                    **{column: numbers[i] for column, numbers in values[method].items()},
                    "explained_continuous": 0.4, "explained_top50": 0.3,
                    "forward": FORWARD.get(method, 9.0) * forward_scale + i, "backward": 0.0,
                    "seconds": SECONDS.get(method, 0.05) * forward_scale, "metric_forward": 30.0,
                    "metric_seconds": 0.2, "skipped": skipped,
                })  # fmt: skip
                curve = [math.nan] * 5 if skipped else [1, 0.6, 0.3, 0.1, 0]
                curves.append({"image_id": image, "method": method, "deletion": curve,
                               "insertion": curve[::-1]})  # fmt: skip
            maps = dict.fromkeys(methods, ramp) if extras else None
            records.add_image(rows, curves if extras else [], maps)
    if not extras:
        (root / "curves.jsonl").unlink()
    return root


def make_sweep(root: Path, key: str, values: list[str]) -> Path:
    """A Hydra-style multirun of Cluster-CAM alone, one job folder per value of `key` (named as
    Hydra's override_dirname names it); a job's cost scales with a numeric value (K)."""
    root.mkdir(parents=True)
    (root / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"mode": "MULTIRUN"}}))
    for value in values:
        make_run(
            root / f"{key}={value}",
            methods=["clustercam"],
            overrides=[f"{key}={value}", "experiment=sweep"],
            extras=False,
            forward_scale=float(value) if value.isdigit() else 1.0,
        )
    return root


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """One report over a comparison run, a variants run, a K sweep and a variant sweep."""
    root = tmp_path_factory.mktemp("report")
    paths = [
        make_run(root / "main"),
        make_run(
            root / "variants",
            model="resnet18",
            methods=["gradcam", "clustercam", "cc_baseline"],
            extras=False,
        ),
        make_sweep(root / "ksweep", "method.n_clusters", ["16", "2", "4"]),
        make_sweep(root / "cognition", "method.cognition", ["centered", "extremes"]),
    ]
    out = root / "results"
    written = main([*map(str, paths), "--out", str(out), "--grid-images", "3"])
    inputs, _ = discover(paths)
    return out, written, inputs


def markdown_rows(path: Path) -> list[list[str]]:
    """Body cells of the pipe table in a Markdown file (header and alignment rows dropped)."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def parse_cell(text: str) -> tuple[float, float]:
    mean, _, ci = text.partition(" ± ")
    return (math.nan if mean == "-" else float(mean)), (float(ci) if ci else math.nan)


def test_mean_ci_is_the_t_interval() -> None:
    values = np.array([1.0, 2.5, 4.0, 3.0, np.nan])
    mean, half, n = mean_ci(values)
    low, high = stats.t.interval(0.95, 3, loc=np.nanmean(values), scale=stats.sem(values[:4]))
    assert (n, mean) == (4, pytest.approx(2.625))
    assert half == pytest.approx((high - low) / 2)
    assert math.isnan(mean_ci([5.0])[1]) and mean_ci([])[2] == 0


def test_writes_every_table_and_figure(report: Report) -> None:
    out, written, _ = report
    names = {path.name for path in written}
    for number, stem in enumerate(TABLES, start=1):
        assert {f"{stem}.md", f"{stem}.csv", f"{stem}.tex"} <= names
        assert f"**Table {number}:" in (out / f"{stem}.md").read_text()
    figures = [
        "fig1_saliency_grid_efficientnet-lite0-samples-rise.png",
        "fig2_deletion_insertion_curves_efficientnet-lite0-samples-rise.png",
        "fig3_k_tradeoff.png",
        "fig8_frontier_efficientnet-lite0-rise.png",
        "fig8_frontier_resnet18-rise.png",
    ]
    assert {"table8_frontier.md", "table8_frontier.csv", "table8_frontier.tex"} <= names
    assert "**Table 8:" in (out / "table8_frontier.md").read_text()
    assert sorted(name for name in names if name.endswith(".png")) == sorted(figures)
    for figure in figures:
        assert (out / figure).read_bytes()[:8] == PNG_SIGNATURE
        with Image.open(out / figure) as image:
            assert min(image.size) > 100
    assert "![fig3_k_tradeoff](fig3_k_tradeoff.png)" in (out / "report.md").read_text()


def test_markdown_numbers_equal_the_csv(report: Report) -> None:
    out, _, inputs = report
    tables, _ = build_tables(inputs)
    assert [table.name for table in tables] == TABLES
    for table in tables:
        csv = pd.read_csv(out / f"{table.name}.csv", keep_default_na=False, na_values=[""])
        rows = markdown_rows(out / f"{table.name}.md")
        assert len(rows) == len(csv) > 0
        for row, (_, expected_row) in zip(rows, csv.iterrows()):
            assert len(row) == len(table.columns)
            for text, column in zip(row, table.columns):
                value = expected_row[column.key]
                if column.decimals is None:
                    assert text == ("" if pd.isna(value) else str(value))
                    continue
                mean, half = parse_cell(text)
                tolerance = 0.5 * 10**-column.decimals + 1e-9
                assert mean == pytest.approx(value, abs=tolerance, nan_ok=True)
                ci = expected_row.get(f"{column.key}_ci95", math.nan) if column.ci else math.nan
                assert half == pytest.approx(ci, abs=tolerance, nan_ok=True)


def test_confidence_numbers_are_the_hand_computed_means(report: Report) -> None:
    out, _, _ = report
    table = pd.read_csv(out / "table1_confidence.csv")
    table = table[table["run"] == "main"].set_index("method")
    for method in METHODS:
        for mode in ("continuous", "top50"):
            drop = expected(method, f"drop_{mode}")
            drop = drop[np.isfinite(drop)]
            increase = expected(method, f"increase_{mode}")
            n = len(drop)
            half = stats.t.ppf(0.975, n - 1) * drop.std(ddof=1) / math.sqrt(n)
            row = table.loc[method]
            assert row[f"ad_{mode}"] == pytest.approx(drop.mean())
            assert row[f"ad_{mode}_ci95"] == pytest.approx(half)
            assert row[f"ic_{mode}"] == pytest.approx(100 * np.nanmean(increase))
            assert (row["n"], row["skipped"]) == (n, int(method == SKIPPED[0]))


def test_cost_speed_up_is_score_cam_over_cluster_cam(report: Report) -> None:
    out, _, _ = report
    table = pd.read_csv(out / "table3_cost.csv")
    main_run = table[table["run"] == "main"].set_index("method")
    kept = np.arange(len(IMAGES) - 1)  # Cluster-CAM skipped the last image
    ratio = (FORWARD["scorecam"] + kept).mean() / (FORWARD["clustercam"] + kept).mean()
    assert main_run.loc["clustercam", "speedup_forward"] == pytest.approx(ratio)
    assert main_run.loc["clustercam", "speedup_seconds"] == pytest.approx(
        SECONDS["scorecam"] / SECONDS["clustercam"]
    )
    assert main_run.loc["clustercam", "forward"] == pytest.approx(9.0 + kept.mean())
    assert pd.isna(main_run.loc["scorecam", "speedup_forward"])
    setup = table.set_index(["run", "method"])["setup_forward"]
    assert (setup[("variants", "cc_baseline")], setup[("main", "clustercam")]) == (1, 0)


def test_ablation_tables_follow_the_sweeps(report: Report) -> None:
    out, _, _ = report
    k_table = pd.read_csv(out / "table4_k_ablation.csv")
    assert k_table["k"].tolist() == [2, 4, 16]
    assert k_table["forward"].tolist() == pytest.approx([k * 9 + 1.5 for k in (2, 4, 16)])
    variants = pd.read_csv(out / "table5_variants.csv")
    assert variants["variant"].tolist() == [
        "clustercam",
        "cc_baseline",
        "cognition=centered",
        "cognition=extremes",
    ]
    assert variants["cognition"].tolist() == ["centered", "baseline", "centered", "extremes"]
    assert variants["model"].tolist()[:2] == ["resnet18"] * 2


def test_latex_is_booktabs_with_the_expected_rows(report: Report) -> None:
    out, _, _ = report
    tex = (out / "table1_confidence.tex").read_text()
    assert tex.index(r"\toprule") < tex.index(r"\midrule") < tex.index(r"\bottomrule")
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1
    assert r"\caption{" in tex and r"95\% CI" in tex and r"\label{tab:table1_confidence}" in tex
    body = tex[tex.index(r"\midrule") : tex.index(r"\bottomrule")].splitlines()
    cells = [line.removesuffix(r" \\").split(" & ") for line in body if " & " in line]
    assert [row[2] for row in cells] == [
        "Cluster-CAM", "Grad-CAM", "Score-CAM", "Grad-CAM", "Cluster-CAM", "cc\\_baseline",
    ]  # fmt: skip
    assert all(len(row) == len(cells[0]) for row in cells)
    assert "published" not in tex
    assert latex_escape("a_b 5% ± 1") == r"a\_b 5\% $\pm$ 1"


def test_published_rows_only_beside_the_same_protocol(tmp_path: Path) -> None:
    def run(name: str, **options: object) -> object:
        return load_run(make_run(tmp_path / name, extras=False, **options))

    def published(table: Table) -> pd.DataFrame:
        return table.data[table.data["source"].str.startswith("published")]

    vgg_rise = run("vgg", model="vgg16")
    scorecam_rows = published(confidence_table([vgg_rise]))
    assert scorecam_rows["label"].tolist() == [
        "Mask",
        "RISE",
        "Grad-CAM",
        "Grad-CAM++",
        "Score-CAM",
    ]
    assert scorecam_rows["ad_top50"].tolist()[-1] == 31.5
    assert scorecam_rows["ad_continuous"].isna().all()
    assert published(causal_table([vgg_rise]))["deletion"].tolist() == [0.1087, 0.0980]
    resnet = run("r50", model="resnet50")
    assert published(causal_table([resnet]))["insertion"].tolist() == [0.6766, 0.7267]
    assert published(confidence_table([resnet, run("lite")])).empty
    assert published(confidence_table([run("cont", model="vgg16", modes=("continuous",))])).empty
    assert published(causal_table([run("fast", model="vgg16", preset="fast")])).empty


def test_a_library_method_is_labelled_with_its_library(tmp_path: Path) -> None:
    """pytorch-grad-cam's and torchcam's Grad-CAM never read as ours, in tables and figures."""
    path = make_run(tmp_path / "adapters", methods=["gradcam", "GradCAM", "tc_gradcam"])
    config = yaml.safe_load((path / "config.yaml").read_text())
    config["methods"]["GradCAM"]["_target_"] = "baselines.PytorchGradCAM"
    config["methods"]["GradCAM"]["class_name"] = "GradCAM"
    config["methods"]["tc_gradcam"] = {
        "name": "tc_gradcam", "_target_": "baselines.TorchCAM", "class_name": "GradCAM"
    }
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    run = load_run(path)
    assert [method_label(run, m) for m in run.methods] == [
        "Grad-CAM", "Grad-CAM (pytorch-grad-cam)", "Grad-CAM (torchcam)"
    ]
    assert confidence_table([run]).data["label"].tolist() == [
        "Grad-CAM", "Grad-CAM (pytorch-grad-cam)", "Grad-CAM (torchcam)"
    ]
    out = tmp_path / "out"
    main([str(path), "--out", str(out)])
    assert "Grad-CAM (torchcam)" in (out / "table1_confidence.md").read_text()


def test_random_weights_are_flagged_and_never_beside_published_rows(tmp_path: Path) -> None:
    path = make_run(tmp_path / "vgg", model="vgg16", extras=False)
    config = yaml.safe_load((path / "config.yaml").read_text())
    config["model"]["weights"] = "random"
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    run = load_run(path)
    assert run.random_weights and run.model == "vgg16 (model.weights=random)"
    for table in (confidence_table([run]), causal_table([run])):
        assert set(table.data["source"]) == {"this run"}
        assert set(table.data["model"]) == {"vgg16 (model.weights=random)"}
    out = tmp_path / "out"
    main([str(path), "--out", str(out)])
    for name in ("table1_confidence", "table2_deletion_insertion", "table3_cost"):
        assert "vgg16 (model.weights=random)" in (out / f"{name}.md").read_text(), name


def test_k_tradeoff_legend_fits_with_long_run_names(tmp_path: Path) -> None:
    """Companion runs in long folders (Hydra's override names) keep the legend in the figure."""
    long_name = "2026-01-01_12-00-00_experiment-compare_all__" + "__".join(
        f"methods.rise.n_masks-{n}" for n in (100, 200, 300, 400)
    )
    sweep = make_sweep(tmp_path / "ksweep", "method.n_clusters", ["2", "4", "8"])
    companion = make_run(tmp_path / long_name, extras=False)
    inputs, _ = discover([sweep, companion])
    fig = k_tradeoff(inputs.k_jobs, inputs.runs)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    frame = fig.bbox
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 3  # K line, 2 refs
    box = fig.legends[0].get_window_extent(renderer)
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0, (box, frame)
    for axis in fig.axes:  # the legend sits below the plots, not over them
        assert box.y1 <= axis.get_tightbbox(renderer).y0 + 1


def test_a_step_other_than_the_presets_gets_no_published_rows(tmp_path: Path) -> None:
    """The runner stores the protocol as metrics.preset and metrics.causal.step."""
    path = make_run(tmp_path / "r50", model="resnet50", extras=False)
    assert (load_run(path).preset, load_run(path).step) == ("rise", 224)
    config = yaml.safe_load((path / "config.yaml").read_text())
    config["metrics"]["causal"]["step"] = 448
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    run = load_run(path)
    assert (run.preset, run.step) == ("rise", 448)
    assert not causal_table([run]).data["source"].str.startswith("published").any()


def test_missing_inputs_are_skipped_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path / "bare", extras=False)
    written = main([str(run), str(tmp_path / "nothing_here"), "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    figures = [path.name for path in written if path.suffix == ".png"]
    assert figures == ["fig8_frontier_efficientnet-lite0-rise.png"]  # needs the AUCs only
    for reason in (
        "no maps/",
        "no curves.jsonl",
        "Table 4 skipped",
        "Table 5 skipped",
        "K trade-off skipped",
        "neither a run",
    ):
        assert reason in printed
    assert (tmp_path / "out" / "table1_confidence.md").is_file()


def test_bundled_photo_recorded_in_another_checkout_is_found(tmp_path: Path) -> None:
    """Run folders record absolute photo paths; the bundled photos are found wherever they live."""
    elsewhere = "/another/checkout/clustercam/assets/samples/chelsea.jpg"
    on_samples = Run(tmp_path, {"data": {"name": "samples"}}, pd.DataFrame())
    assert find_photo(on_samples, elsewhere) == SAMPLES_DIR / "chelsea.jpg"
    on_other_data = Run(tmp_path, {"data": {"name": "imagefolder"}}, pd.DataFrame())
    assert find_photo(on_other_data, elsewhere) is None


def test_comparison_tables_carry_the_paired_statistics(report: Report) -> None:
    out, _, _ = report
    table = pd.read_csv(out / "table2_deletion_insertion.csv", keep_default_na=False)
    main_run = table[table["run"] == "main"].set_index("method")
    kept = [i for i, image in enumerate(IMAGES) if image != SKIPPED[1]]
    for key, column in (("deletion", "deletion_auc"), ("insertion", "insertion_auc")):
        method, reference = expected("gradcam", column)[kept], expected("clustercam", column)[kept]
        row = main_run.loc["gradcam"]
        assert float(row[f"{key}_diff"]) == pytest.approx((method - reference).mean())
        assert float(row[f"{key}_p"]) == pytest.approx(stats.wilcoxon(method, reference).pvalue)
        gains = (method - reference) * (1 if key == "insertion" else -1)
        record = f"{(gains > 0.005).sum()}/{(abs(gains) <= 0.005).sum()}/{(gains < -0.005).sum()}"
        assert row[f"{key}_wtl"] == record
        assert main_run.loc["clustercam", f"{key}_wtl"] == ""  # the reference itself
    markdown = (out / "table2_deletion_insertion.md").read_text()
    assert "W/T/L Insertion AUC" in markdown and "Wilcoxon" in markdown
    variants = pd.read_csv(out / "table5_variants.csv", keep_default_na=False)
    baseline = variants[variants["variant"] == "cc_baseline"].iloc[0]
    assert baseline["paired_with"] == "clustercam" and baseline["insertion_wtl"] != ""


@pytest.mark.parametrize(
    ("model", "side"), [("efficientnet_lite1", 240), ("efficientnet_lite2", 260)]
)
def test_saliency_grid_shows_the_models_own_view(tmp_path: Path, model: str, side: int) -> None:
    """A model whose input is not 224 x 224: the photo is shown as that model saw it (its own
    resize and crop, not a fixed 256 -> 224), so its maps lie on what it explained."""
    run = load_run(make_run(tmp_path / model, model=model))
    view = model_view(run)(tmp_path / model / "img0.png")
    assert view.shape == (side, side, 3) and view.min() >= 0 and view.max() <= 1
    written = saliency_grid(run, tmp_path / "grid.png", max_images=2)
    assert written.read_bytes().startswith(PNG_SIGNATURE)
