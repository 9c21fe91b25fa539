"""What a run shows a person without asking: overview.png (the first photos, each method's map
over them, and each photo's deletion and insertion curves) and the notes that end summary.md
(reduced sample budgets, random weights, the figure's link).

Written at the end of every run (clustercam.bench.experiment) and of every merge of shards
(clustercam.bench.merge), from the run folder alone, so the two write the same summary.md. The
maps come from `maps/` (a run saves those of its first `overview_images` images, or all of them
with save_maps=true); a run without any writes its notes and no figure.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from clustercam.bench.estimate import budgets
from clustercam.bench.report.figures import find_photo, model_view, save
from clustercam.bench.report.runs import Run, load_run
from clustercam.bench.report.tables import NotAvailable, method_label
from clustercam.bench.run_folder import SUMMARY_MD, read_curves
from clustercam.overlay import overlay

OVERVIEW_PNG = "overview.png"
CURVE_STYLES = {"insertion": "-", "deletion": "--"}


def overview_figure(run: Run, out: Path, max_images: int) -> Path:
    """Rows: the first `max_images` photos with saved maps; columns: the photo, each method's map
    over it, and the photo's curves of every method (insertion solid, deletion dashed)."""
    images = run.rows.drop_duplicates("image_id")
    images = images[[(run.maps_dir / f"{i}.npz").is_file() for i in images["image_id"]]]
    if images.empty or max_images < 1:
        raise NotAvailable(f"{run.name}: no maps/ to draw")
    images = images.head(max_images)
    methods = run.methods
    curves = _image_curves(run, set(images["image_id"]))
    view = model_view(run)
    colours = plt.get_cmap("tab10").colors  # distinct neighbours (tab20 pairs light and dark)
    fig, axes = plt.subplots(
        len(images), len(methods) + 2, squeeze=False,
        figsize=(1.4 * (len(methods) + 3), 1.5 * len(images) + 0.4),
    )  # fmt: skip
    for axis_row, (_, image) in zip(axes, images.iterrows()):
        image_id = str(image["image_id"])
        with np.load(run.maps_dir / f"{image_id}.npz") as maps:
            saved = {key: maps[key].astype(float) for key in maps.files}
        found = find_photo(run, str(image.get("path", "")))
        size = next(iter(saved.values())).shape if saved else (1, 1)
        picture = view(found) if found is not None else np.full((*size, 3), 0.5)
        axis_row[0].imshow(picture)
        axis_row[0].set_ylabel(str(image.get("target_name", image_id))[:18], fontsize=7)
        for axis, method in zip(axis_row[1:-1], methods):
            shown = overlay(picture, saved[method]) if method in saved else picture
            axis.imshow(shown)
        for axis in axis_row[:-1]:
            axis.set_xticks([])
            axis.set_yticks([])
        plot = axis_row[-1]
        for number, method in enumerate(methods):
            for kind, style in CURVE_STYLES.items():
                curve = curves.get((image_id, method, kind))
                if curve is not None:
                    plot.plot(
                        np.linspace(0, 1, len(curve)), curve, style, linewidth=0.8,
                        color=colours[number % len(colours)],
                        label=method_label(run, method) if kind == "insertion" else None,
                    )  # fmt: skip
        plot.set(xlim=(0, 1), ylim=(0, None))
        plot.tick_params(labelsize=6)
    for axis, title in zip(
        axes[0], ["photo", *(method_label(run, m) for m in methods), "p_c: ins. —, del. --"]
    ):
        axis.set_title(title, fontsize=7)
    axes[-1][-1].set_xlabel("fraction of pixels", fontsize=7)
    handles, labels = axes[0][-1].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, fontsize=6, loc="lower center", ncol=min(len(labels), 7))
    fig.suptitle(f"{run.model} on {run.data}: maps and curves of the first photos", fontsize=9)
    fig.tight_layout(rect=(0, 0.08 if handles else 0, 1, 1))
    return save(fig, out)


def _image_curves(run: Run, image_ids: set[str]) -> dict[tuple[str, str, str], np.ndarray]:
    """(image, method, kind) -> that image's curve, for the images drawn."""
    found = {}
    for record in read_curves(run.path):
        if record["image_id"] not in image_ids:
            continue
        for kind in CURVE_STYLES:
            curve = np.asarray(record.get(kind) or [], dtype=float)
            if len(curve) > 1 and np.isfinite(curve).all():
                found[record["image_id"], record["method"], kind] = curve
    return found


def summary_notes(run: Run, figure: Path | None) -> list[str]:
    """The lines that end summary.md: what a reader must know to read its numbers, and where the
    figure is."""
    notes = []
    reduced = budgets(run.method_configs)
    if reduced:
        notes.append(f"Sample budgets below the methods' defaults: {', '.join(reduced)}.")
    if run.random_weights:
        notes.append(
            f"**{run.model}: an untrained model.** Its maps and metrics say nothing about the "
            "trained network."
        )
    if figure is not None:
        notes.append(f"![maps and curves of the first photos]({figure.name})")
    return notes


def finish_summary(run_dir: Path, max_images: int) -> Path | None:
    """Writes overview.png (when maps were saved) and appends the notes to summary.md; returns
    the figure's path, or None."""
    run = load_run(Path(run_dir))
    try:
        figure: Path | None = overview_figure(run, run.path / OVERVIEW_PNG, max_images)
    except NotAvailable:
        figure = None
    notes = summary_notes(run, figure)
    if notes:
        summary = run.path / SUMMARY_MD
        summary.write_text(summary.read_text() + "\n" + "\n\n".join(notes) + "\n")
    return figure
