"""Figures (PNG, matplotlib Agg): saliency grid, mean deletion/insertion curves, K trade-off,
maps with their ground-truth boxes.

Each function raises `NotAvailable` when its inputs are missing (no maps saved, no curves), so
the command line can say so and go on with the rest.
"""

from __future__ import annotations

import textwrap
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, NullFormatter
from omegaconf import OmegaConf
from PIL import Image
from torchvision import transforms as T

from clustercam.bench.boxes import ground_truth_boxes, preprocessing_of, read_boxes
from clustercam.bench.build import meta_model
from clustercam.bench.columns import BY_NAME, Field
from clustercam.bench.data import SAMPLES_DIR
from clustercam.bench.report.runs import Job, Run, canonical, lookup
from clustercam.bench.report.tables import (
    CAUSAL_METRICS,
    NotAvailable,
    method_label,
    pretty,
    summary_cells,
)
from clustercam.bench.run_folder import read_curves
from clustercam.overlay import overlay
from metrics import auc, largest_component_box

DPI = 100
REFERENCE_METHODS = {"scorecam": "s", "gradcam": "^"}
LEGEND_WIDTH = 60  # characters of a legend line
LEGEND_LINE_INCHES = 0.17  # one line of a fontsize-7 legend
PLOT_INCHES = 4.0  # the height of the K trade-off's plots


def model_view(run: Run) -> Callable[[Path], np.ndarray]:
    """The model's own view of a photo (RGB, 0..1): its preprocessing up to the tensor (e.g.
    EfficientNet-Lite1's resize and 240 x 240 crop), so that a saved map lies on what the model
    saw. The preprocessing is the zoo's, built on the meta device: no weights are read."""
    model = run.config.get("model") or {}
    if "_target_" not in model:
        raise NotAvailable(f"{run.name}: config.yaml does not name its model's builder")
    steps = list(meta_model(OmegaConf.create(model)).transform.transforms)
    to_tensor = next(i for i, step in enumerate(steps) if "ToTensor" in type(step).__name__)
    geometric = T.Compose(steps[:to_tensor])

    def view(path: Path) -> np.ndarray:
        with Image.open(path) as image:
            return np.asarray(geometric(image.convert("RGB")), dtype=float) / 255

    return view


def find_photo(run: Run, recorded: str) -> Path | None:
    """The recorded path as given, else relative to the run directory, else (a run on the bundled
    photos, recorded in another checkout) the bundled photo of that name; None if none exists."""
    candidates = [Path(recorded), run.path / recorded]
    if run.data == "samples":
        candidates.append(SAMPLES_DIR / Path(recorded).name)
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def saliency_grid(run: Run, out: Path, max_images: int) -> Path:
    """Rows = the first photos with saved maps, columns = the photo and each method's overlay."""
    images = run.rows.drop_duplicates("image_id")
    images = images[[(run.maps_dir / f"{i}.npz").is_file() for i in images["image_id"]]]
    if images.empty:
        raise NotAvailable(f"{run.name}: no maps/ (run with save_maps on)")
    images = images.head(max_images)
    view = model_view(run)
    methods = run.methods
    fig, axes = plt.subplots(
        len(images),
        len(methods) + 1,
        squeeze=False,
        figsize=(1.8 * (len(methods) + 1), 1.9 * len(images)),
    )
    for axis_row, (_, image) in zip(axes, images.iterrows()):
        with np.load(run.maps_dir / f"{image['image_id']}.npz") as maps:
            saved = {key: maps[key].astype(float) for key in maps.files}
        found = find_photo(run, str(image.get("path", "")))
        size = next(iter(saved.values())).shape if saved else (1, 1)
        picture = view(found) if found is not None else np.full((*size, 3), 0.5)
        axis_row[0].imshow(picture)
        axis_row[0].set_ylabel(str(image.get("target_name", image["image_id"])), fontsize=8)
        for axis, method in zip(axis_row[1:], methods):
            axis.imshow(overlay(picture, saved[method]) if method in saved else picture)
        for axis in axis_row:
            axis.set_xticks([])
            axis.set_yticks([])
    for axis, title in zip(axes[0], ["photo", *(method_label(run, m) for m in methods)]):
        axis.set_title(title, fontsize=9)
    fig.suptitle(f"Saliency maps: {run.model} ({run.data})", fontsize=10)
    fig.tight_layout()
    return save(fig, out)


def finite_curves(run: Run) -> dict[str, dict[str, list[np.ndarray]]]:
    """The run's curves.jsonl -> method -> 'deletion'/'insertion' -> finite curves (NaN ones
    dropped)."""
    curves: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    for record in read_curves(run.path):
        for kind in ("deletion", "insertion"):
            curve = np.asarray(record.get(kind) or [], dtype=float)
            if len(curve) > 1 and np.isfinite(curve).all():
                curves[record["method"]][kind].append(curve)
    return curves


def mean_curve(curves: Sequence[np.ndarray]) -> tuple[np.ndarray, int]:
    """Pointwise mean over the curves of the common length (all, in a consistent run), and n."""
    length = Counter(len(c) for c in curves).most_common(1)[0][0]
    same = [c for c in curves if len(c) == length]
    return np.mean(same, axis=0), len(same)


def curves_figure(run: Run, out: Path) -> Path:
    """Mean deletion and insertion curves per method, x = fraction of pixels changed."""
    if not run.curves_path.is_file():
        raise NotAvailable(f"{run.name}: no curves.jsonl")
    curves = finite_curves(run)
    if not curves:
        raise NotAvailable(f"{run.name}: curves.jsonl has no finite curves")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, kind in zip(axes, ("deletion", "insertion")):
        for method in (m for m in run.methods if curves[m][kind]):
            mean, n = mean_curve(curves[method][kind])
            # The AUC of a mean curve is the mean of the per-image AUCs (it is linear).
            area = float(auc(torch.from_numpy(mean)))
            label = f"{method_label(run, method)} (AUC {area:.3f}, n={n})"
            axis.plot(np.linspace(0, 1, len(mean)), mean, label=label)
        axis.set(
            title=f"{kind.capitalize()} (preset {run.preset})",
            xlabel="fraction of pixels",
            ylabel="p_c (target class)",
            xlim=(0, 1),
            ylim=(0, None),
        )
        axis.legend(fontsize=7)
    fig.suptitle(f"Mean curves: {run.model} ({run.data})", fontsize=10)
    fig.tight_layout()
    return save(fig, out)


def means(run: Run, method: str, metrics: Sequence[Field]) -> dict[str, float]:
    summary, _ = summary_cells(run.rows[run.rows["method"] == method], metrics)
    return summary


def k_tradeoff_figure(jobs: Sequence[Job], companions: Sequence[Run], out: Path) -> Path:
    """AUCs against forward passes per image, one line per Cluster-CAM setting, K annotated.

    Score-CAM and Grad-CAM come from companion runs of the same model and preset only: AUCs
    under another model or step size are not comparable.
    """
    return save(k_tradeoff(jobs, companions), out)


def k_tradeoff(jobs: Sequence[Job], companions: Sequence[Run]) -> plt.Figure:
    """The figure of `k_tradeoff_figure`. Its one legend sits below both plots, each label
    wrapped at LEGEND_WIDTH characters, so long run-folder names stay inside the figure."""
    metrics = (BY_NAME["forward"], *CAUSAL_METRICS)
    lines: dict[str, list[tuple[int, dict[str, float]]]] = defaultdict(list)
    for job in sorted((j for j in jobs if j.k is not None), key=lambda j: j.k):
        for method in job.run.cluster_methods:
            label = ", ".join(filter(None, [pretty(method), job.setting(False)]))
            lines[label].append((job.k, means(job.run, method, metrics)))
    if not lines:
        raise NotAvailable("no K sweep with clustercam... rows")
    first = jobs[0].run
    fig, axes = plt.subplots(1, 2, figsize=(10, PLOT_INCHES))
    for axis, field in zip(axes, (BY_NAME["insertion_auc"], BY_NAME["deletion_auc"])):
        key = field.key
        for label, points in lines.items():
            x = [p["forward"] for _, p in points]
            y = [p[key] for _, p in points]
            axis.plot(x, y, marker="o", label=label)
            for k, xi, yi in zip((k for k, _ in points), x, y):
                axis.annotate(
                    f"K={k}", (xi, yi), fontsize=7, textcoords="offset points", xytext=(3, 3)
                )
        for run in companions:
            if canonical(run.model) != canonical(first.model) or run.preset != first.preset:
                continue
            for method in run.methods:
                marker = REFERENCE_METHODS.get(canonical(method))
                if marker is not None:
                    point = means(run, method, metrics)
                    axis.scatter(
                        point["forward"],
                        point[key],
                        marker=marker,
                        s=60,
                        color="k",
                        label=f"{method_label(run, method)} ({run.name})",
                        zorder=3,
                    )
        axis.set_xscale("log")  # before the formatters: setting the scale resets them
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.margins(x=0.1, y=0.1)
        axis.set(
            xlabel="forward passes per image",
            ylabel=f"{key} AUC ({field.better} is better)",
        )
    handles, labels = axes[0].get_legend_handles_labels()
    wrapped = [textwrap.fill(label, LEGEND_WIDTH) for label in labels]
    columns = 2 if len(wrapped) > 1 else 1
    n_lines = sum(label.count("\n") + 1 for label in wrapped)
    below = LEGEND_LINE_INCHES * (-(-n_lines // columns) + 1)  # the legend's height, a line spare
    fig.set_size_inches(10, PLOT_INCHES + below)
    fig.legend(handles, wrapped, loc="lower center", ncol=columns, fontsize=7, frameon=False)
    fig.suptitle(f"K trade-off: {first.model}, preset {first.preset}", fontsize=10)
    fig.tight_layout(rect=(0, below / (PLOT_INCHES + below), 1, 1))
    return fig


def localization_figure(run: Run, out: Path, max_images: int) -> Path:
    """Rows = the first photos with saved maps, columns = the model's view of the photo and each
    method's map, all with the ground-truth boxes of the explained class (green); on a map, the
    box of its largest component at 15% of its maximum (white, dashed) and its maximum (x)."""
    source = lookup(run.config, "data.boxes")
    if source is None:
        raise NotAvailable(f"{run.name}: no data.boxes (a run without ground-truth boxes)")
    images = run.rows.drop_duplicates("image_id")
    images = images[[(run.maps_dir / f"{i}.npz").is_file() for i in images["image_id"]]]
    if images.empty:
        raise NotAvailable(f"{run.name}: no maps/ (run with save_maps on)")
    geometry = preprocessing_of(meta_model(OmegaConf.create(run.config["model"])).transform)
    view = model_view(run)
    annotations = read_boxes(source)
    images, methods = images.head(max_images), run.methods
    fig, axes = plt.subplots(
        len(images), len(methods) + 1, squeeze=False,
        figsize=(1.8 * (len(methods) + 1), 1.9 * len(images)),
    )  # fmt: skip
    for axis_row, (_, image) in zip(axes, images.iterrows()):
        found = find_photo(run, str(image.get("path", "")))
        if found is None:
            raise NotAvailable(f"{run.name}: photo {image['path']} not found")
        with Image.open(found) as opened:
            size = opened.size
        picture = view(found)
        annotation = annotations.get(str(image["image_id"]))
        truth = (
            ground_truth_boxes(annotation, int(image["target"]), size, geometry)
            if annotation is not None
            else torch.zeros(0, 4)
        )
        with np.load(run.maps_dir / f"{image['image_id']}.npz") as maps:
            saved = {key: maps[key].astype(float) for key in maps.files}
        axis_row[0].set_ylabel(str(image.get("target_name", image["image_id"])), fontsize=8)
        for axis, method in zip(axis_row, [None, *methods]):
            axis.imshow(picture)
            saliency = saved.get(method) if method is not None else None
            if saliency is not None:
                height, width = saliency.shape
                axis.imshow(saliency, cmap="jet", alpha=0.5, extent=(0, width, height, 0))
                top = np.unravel_index(np.argmax(saliency), saliency.shape)
                axis.plot(top[1] + 0.5, top[0] + 0.5, "wx", markersize=6, mew=2)
                predicted = largest_component_box(torch.from_numpy(saliency))
                if predicted is not None:
                    draw_box(axis, predicted.tolist(), "white", "--")
            for box in truth.tolist():
                draw_box(axis, box, "lime", "-")
            axis.set_xticks([])
            axis.set_yticks([])
    for axis, title in zip(axes[0], ["photo + boxes", *(method_label(run, m) for m in methods)]):
        axis.set_title(title, fontsize=9)
    fig.suptitle(f"Maps and ground-truth boxes: {run.model} ({run.data})", fontsize=10)
    fig.tight_layout()
    return save(fig, out)


def draw_box(axis: plt.Axes, box: Sequence[float], colour: str, style: str) -> None:
    x0, y0, x1, y1 = box
    axis.add_patch(
        Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linestyle=style)
    )


def save(fig: plt.Figure, out: Path) -> Path:
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out
