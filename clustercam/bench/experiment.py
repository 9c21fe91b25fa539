"""The experiment loop: data set -> model -> every method -> every metric -> records.

Methods, metrics, model and data set are built from config `_target_`s by clustercam.bench.build,
so this module never imports a baseline by name. Several methods in one run share the image
loading and the work that does not depend on a map: the original forward pass (p_c(x), the target
class) and the endpoints of the deletion and insertion curves, computed once per image. Only
clustercam.bench.run_command (what `python run.py` does) imports this module.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from clustercam.bench import build
from clustercam.bench.build import Metrics, Setup
from clustercam.bench.columns import auc_column, confidence_columns
from clustercam.bench.data import ClassBox, Sample
from clustercam.bench.devices import provenance, set_numerics
from clustercam.bench.loader import LoadedBatch, image_batches
from clustercam.bench.localize import localization_columns
from clustercam.bench.report.overview import finish_summary
from clustercam.bench.run_folder import SUMMARY_MD, RunRecords
from clustercam.bench.summaries import readable_summary, write_summaries
from clustercam.bench.zoo import ZooModel
from clustercam.cam_method import CAMMethod
from clustercam.cost import Cost, CostCounter
from clustercam.scoring import chunk_limits
from metrics import (
    adcc,
    complexity,
    confidence,
    gain_from_confidence,
    invalid_maps,
    sparseness,
)

log = logging.getLogger(__name__)

PROGRESS = {auc_column("insertion"): "ins", auc_column("deletion"): "del", "drop_continuous": "AD"}
# Rows, curves and maps (or None) of one image.
ImageRecord = tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, np.ndarray] | None]
CURVE_KINDS = ("deletion", "insertion")


@dataclass(frozen=True)
class Bench:
    """What explains and scores every batch of a run, built once from its config."""

    zoo: ZooModel
    model: CostCounter
    methods: Mapping[str, CAMMethod]
    metrics: Metrics
    target: str
    save_maps: bool
    overview: frozenset[str] = frozenset()  # images whose maps are kept for overview.png

    def keeps_maps(self, image_id: str) -> bool:
        return self.save_maps or image_id in self.overview


def run(
    cfg: DictConfig, run_dir: Path, zoo: ZooModel | None = None, setup: Setup | None = None
) -> pd.DataFrame:
    """Runs (or resumes) the experiment of `cfg` in `run_dir`; returns the summary table.

    `setup` is what clustercam.bench.validate.check built from `cfg` (and the model, when built
    already: Setup.with_model); without it, it is built here. `zoo` replaces the configured model,
    for a model built in Python rather than by the zoo.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_log(run_dir), logging_redirect_tqdm():
        setup = setup or build.setup(cfg)
        cfg, config, plan = setup.cfg, setup.config, setup.plan
        target, device, precision = config["target"], plan.device, config["precision"]
        set_numerics(device, precision)
        log.info("%s; output folder %s", plan.describe(config["device"]), run_dir)
        if zoo is not None:
            torch.manual_seed(cfg.seed)  # as where the model is built (build.build_model)
        else:
            zoo = setup.zoo or build.build_model(setup)
        model = build.counted_model(setup, zoo)
        methods = build.build_methods(setup, model, zoo.target_layer)
        metrics, samples = setup.metrics, setup.samples
        with RunRecords(run_dir, list(methods), config) as records:
            records.add_start(provenance(device, precision))  # runtime.json: where it ran
            todo = [s for s in samples if records.missing(s.image_id)]
            log.info(
                "model %s (target layer %s) on %s: %d images (%d already done), methods %s, "
                "metrics %s, precision %s",
                zoo.name,
                zoo.target_layer,
                cfg.data.name,
                len(samples),
                len(samples) - len(todo),
                ", ".join(methods),
                cfg.metrics.preset,
                precision,
            )
            progress = _Progress(next(iter(methods)), records.recovered_rows)
            overview = frozenset(s.image_id for s in samples[: cfg.overview_images])
            bench = Bench(zoo, model, methods, metrics, target, cfg.save_maps, overview)
            warmup = cfg.warmup if cfg.warmup is not None else zoo.device.type == "cuda"
            batches = image_batches(
                todo, zoo.transform, plan.batch_size, plan.num_workers, zoo.device.type == "cuda"
            )
            with tqdm(total=len(samples), initial=len(samples) - len(todo), unit="img") as bar:
                for batch in batches:
                    if warmup:
                        for name, seconds in warm_up(batch, bench).items():
                            records.add_setup_cost(name, {"warmup_seconds": seconds})
                        warmup = False
                    for rows, curves, maps in explain_batch(batch, bench, records.missing):
                        _warn_skipped(rows)
                        records.add_image(rows, curves, maps)
                        progress.update(rows)
                        bar.set_postfix_str(progress.text(), refresh=False)
                        bar.update()
                    for name, method in methods.items():
                        records.add_setup_cost(name, vars(method.setup_cost))
                    records.add_chunk_limits(chunk_limits())
            records.put_in_order([s.image_id for s in samples])
            summary = write_summaries(run_dir, records.methods, records.setup_costs)
            figure = finish_summary(run_dir, cfg.overview_images)
        log.info("summary (%s):\n%s", run_dir / SUMMARY_MD, readable_summary(summary))
        if figure is not None:
            log.info("maps and curves of the first images: %s", figure)
        log.info(
            "tables and figures: python scripts/make_report.py %s --out %s",
            run_dir,
            run_dir / "report",
        )
    return summary


def warm_up(batch: LoadedBatch, bench: Bench) -> dict[str, float]:
    """Seconds of each method's first run with its metrics on `batch`, results discarded.

    The first calls on a GPU build cuDNN plans for every padded batch shape and compile kernels;
    doing them here keeps that one-time cost out of the per-image seconds.
    """
    readable = _readable(batch, bench)
    if not readable:
        return {}
    images = batch.images[[batch.readable.index(s) for s in readable]].to(bench.zoo.device)
    seconds = {}
    # The random state is put back afterwards, so a run's results never depend on its warm-up.
    cuda = [images.device] if images.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        classes, original, endpoints = _targets(images, readable, bench)
        for name, method in bench.methods.items():
            with bench.model.measure() as cost:
                explanation = method(images, classes)
                maps = explanation.maps
                _score(bench.model, method, images, maps, classes, original, endpoints,
                       bench.metrics)  # fmt: skip
            seconds[name] = cost.seconds
            log.info("warm-up of %s: %.2f s (not in per-image seconds)", name, cost.seconds)
    return seconds


def explain_batch(
    batch: LoadedBatch, bench: Bench, missing: Callable[[str], Sequence[str]] | None = None
) -> Iterator[ImageRecord]:
    """(rows, curves, maps) of each image of the batch, in order; skipped images included.

    `missing(image_id)` names the methods an image still needs (all of them by default): a
    resumed run explains only those.
    """
    needs = {s.image_id: list(missing(s.image_id)) if missing else list(bench.methods)
             for s in batch.samples}  # fmt: skip
    skipped = dict(batch.unreadable)
    readable = _readable(batch, bench)
    for sample in batch.readable:
        if sample not in readable:
            skipped[sample.image_id] = f"no label to explain (target=label, label {sample.label})"
    results: dict[str, ImageRecord] = {}
    if readable:
        rows = [batch.readable.index(s) for s in readable]
        images = batch.images if len(rows) == len(batch.readable) else batch.images[rows]
        results = _explain(
            readable, images.to(bench.zoo.device, non_blocking=True), bench, needs, batch.truths
        )
    for sample in batch.samples:
        if sample.image_id in results:
            yield results[sample.image_id]
        else:
            base = _base_row(sample)
            rows = [
                {**base, "method": name, "skipped": skipped[sample.image_id]}
                for name in needs[sample.image_id]
            ]
            yield rows, [], None


def _readable(batch: LoadedBatch, bench: Bench) -> list[Sample]:
    """The batch's images that can be explained: read, and with a label when target=label."""
    if bench.target != "label":
        return list(batch.readable)
    n_classes = len(bench.zoo.class_names)
    return [s for s in batch.readable if 0 <= s.label < n_classes]


def _targets(
    images: torch.Tensor, samples: Sequence[Sample], bench: Bench
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Classes to explain, their probabilities p_c(x), and the causal curves' endpoints."""
    model, metrics = bench.model, bench.metrics
    with torch.no_grad():
        probabilities = model(images).float().softmax(dim=1)
    if bench.target == "label":
        classes = torch.tensor([s.label for s in samples], device=images.device)
    else:
        classes = probabilities.argmax(dim=1)
    original = probabilities.gather(1, classes[:, None])[:, 0]
    endpoints = {
        kind: metric.endpoints(model, images, classes, metrics.chunk_size, original)
        for kind in CURVE_KINDS
        if (metric := getattr(metrics, kind)) is not None
    }
    return classes, original, endpoints


def _explain(
    samples: Sequence[Sample],
    images: torch.Tensor,
    bench: Bench,
    needs: Mapping[str, Sequence[str]],
    truths: Mapping[str, Sequence[ClassBox]] | None = None,
) -> dict[str, ImageRecord]:
    """Explains and scores the readable images of a batch with the methods each one `needs`;
    `truths`: ground-truth boxes in input pixels by image id, for the localisation columns."""
    zoo, model, metrics = bench.zoo, bench.model, bench.metrics
    n_images = len(samples)
    with model.measure() as shared:
        classes, original, endpoints = _targets(images, samples, bench)
    shared_cost = shared.per_image(n_images)
    # One copy to the host per batch, not one per value.
    class_list, original_list = classes.tolist(), original.tolist()
    rows = {s.image_id: [] for s in samples}
    curves = {s.image_id: [] for s in samples}
    maps = {s.image_id: {} for s in samples}
    for name, method in bench.methods.items():
        chosen = [b for b, s in enumerate(samples) if name in needs[s.image_id]]
        if not chosen:
            continue
        index = None if len(chosen) == n_images else torch.tensor(chosen, device=images.device)
        # Results never depend on which images share a call, so a subset is explained alone.
        explanation = method(_take(images, index), _take(classes, index))
        columns, image_curves, metric_cost, costs = _score(
            model, method, _take(images, index), explanation.maps, _take(classes, index),
            _take(original, index), {kind: _take(ends, index) for kind, ends in endpoints.items()},
            metrics,
        )  # fmt: skip
        columns |= localization_columns(
            metrics.localization, explanation.maps,
            [(truths or {}).get(samples[i].image_id) for i in chosen],
            [class_list[i] for i in chosen],
        )  # fmt: skip
        metric_cost = metric_cost.per_image(len(chosen)) + shared_cost
        own_costs = {}
        for metric, cost in costs.items() if metrics.metric_costs else ():
            if isinstance(cost, Cost):
                cost = cost.per_image(len(chosen))
                own_costs.update({f"{metric}_forward": cost.forward,
                                  f"{metric}_seconds": cost.seconds})  # fmt: skip
            else:
                own_costs[metric] = cost / len(chosen)
        invalid = invalid_maps(explanation.maps).tolist()
        kept = any(bench.keeps_maps(samples[i].image_id) for i in chosen)
        host_maps = explanation.maps.float().cpu().numpy() if kept else None
        for b, i in enumerate(chosen):
            sample = samples[i]
            row = {
                **_base_row(sample),
                "target": class_list[i],
                "target_name": zoo.class_names[class_list[i]],
                "probability": original_list[i],
                "method": name,
                **{column: values[b] for column, values in columns.items()},
                "forward": explanation.cost.forward,
                "backward": explanation.cost.backward,
                "tail": explanation.cost.tail,
                "seconds": explanation.cost.seconds,
                "metric_forward": metric_cost.forward,
                "metric_seconds": metric_cost.seconds,
                **own_costs,
                "skipped": "invalid map (constant or not finite)" if invalid[b] else "",
            }
            rows[sample.image_id].append(row)
            if image_curves and not invalid[b]:
                curve = {k: image_curves[k][b] if k in image_curves else [] for k in CURVE_KINDS}
                curves[sample.image_id].append(
                    {"image_id": sample.image_id, "method": name, **curve}
                )
            if host_maps is not None and bench.keeps_maps(sample.image_id):
                maps[sample.image_id][name] = host_maps[b]
    return {
        s.image_id: (rows[s.image_id], curves[s.image_id], maps[s.image_id] or None)
        for s in samples
    }


def _take(values: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
    """The rows `index` of `values` (all of them for None, without a copy)."""
    return values if index is None else values.index_select(0, index)


def _score(
    model: CostCounter,
    method: CAMMethod,
    images: torch.Tensor,
    maps: torch.Tensor,
    classes: torch.Tensor,
    original: torch.Tensor,
    endpoints: Mapping[str, torch.Tensor],
    metrics: Metrics,
) -> tuple[
    dict[str, list[float]], dict[str, list[list[float]]], Cost, dict[str, Cost | float]
]:
    """Per-image metric columns and curves of one method's maps, what the metrics spent, and
    what each metric spent (batch totals, by columns.COSTED_METRICS name; ROAD's imputation
    seconds as `road_imputation_seconds`). ADCC and Max-Sensitivity call `method` again."""
    values: dict[str, torch.Tensor] = {}
    curve_values: dict[str, torch.Tensor] = {}
    costs: dict[str, Cost | float] = {}
    continuous = None  # AD's continuous-mode result, which Average Gain and ADCC reuse
    chunk_size = metrics.chunk_size
    with model.measure() as cost:
        with model.measure() as costs["confidence"]:
            for mode in metrics.confidence_modes:
                result = confidence(
                    model, images, maps, classes, mode, chunk_size, original_probs=original
                )
                for quantity, column in confidence_columns(mode).items():
                    values[column] = getattr(result, quantity)
                if mode == "continuous":
                    continuous = result
        for kind, ends in endpoints.items():
            with model.measure() as costs[kind]:
                metric = getattr(metrics, kind)
                result = metric(model, images, maps, classes, ends, chunk_size)
            values[auc_column(kind)] = result.auc
            curve_values[kind] = result.curves
        if metrics.complexity:
            with model.measure() as costs["complexity"]:
                values["sparseness"], values["complexity"] = sparseness(maps), complexity(maps)
        if metrics.gain or metrics.adcc:
            if continuous is None:  # charged to the metrics that need it
                with model.measure() as costs["confidence"]:
                    continuous = confidence(
                        model, images, maps, classes, "continuous", chunk_size, original
                    )
            if metrics.gain:
                values["gain"] = gain_from_confidence(continuous)
        if metrics.adcc:
            with model.measure() as costs["adcc"]:
                parts = adcc(method, model, images, classes, maps, continuous, original,
                             chunk_size)  # fmt: skip
            values.update(adcc=parts.adcc, coherency=parts.coherency,
                          adcc_complexity=parts.complexity)  # fmt: skip
        if metrics.sensitivity is not None:
            with model.measure() as costs["sensitivity"]:
                moved = metrics.sensitivity(method, model, images, classes, maps)
            values["max_sensitivity"] = moved.max_sensitivity
        if metrics.road is not None:
            with model.measure() as costs["road"]:
                removed = metrics.road(model, images, maps, classes, chunk_size=chunk_size)
            values.update(road_morf=removed.morf_auc, road_lerf=removed.lerf_auc,
                          road_combined=removed.combined)  # fmt: skip
            costs["road_imputation_seconds"] = removed.imputation_seconds
    # One copy to the host for all columns (float64 keeps the values as .tolist() gave them).
    columns: dict[str, list[float]] = {}
    if values:
        table = torch.stack([v.to(torch.float64) for v in values.values()]).cpu().tolist()
        columns = dict(zip(values, table))
    curves = {kind: c.cpu().tolist() for kind, c in curve_values.items()}
    return columns, curves, cost, costs


def _base_row(sample: Sample) -> dict[str, Any]:
    return {"image_id": sample.image_id, "path": str(sample.path), "label": sample.label}


def _warn_skipped(rows: Sequence[Mapping[str, Any]]) -> None:
    """One warning per image and reason, naming the methods when not all of them skipped it."""
    methods_of: dict[str, list[str]] = {}
    for row in rows:
        if row.get("skipped"):
            methods_of.setdefault(row["skipped"], []).append(row["method"])
    for reason, methods in methods_of.items():
        which = "" if len(methods) == len(rows) else f" by {', '.join(methods)}"
        log.warning("skipped image %s%s: %s", rows[0]["image_id"], which, reason)


class _Progress:
    """Running means of the main method's main metrics: a short postfix however many methods."""

    def __init__(self, method: str, rows: Sequence[Mapping[str, Any]]) -> None:
        self.method = method
        self.sums = {column: [0.0, 0] for column in PROGRESS}
        self.update(rows)

    def update(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            if row["method"] != self.method:
                continue
            for column in PROGRESS:
                value = row.get(column)
                if value not in (None, "") and not math.isnan(float(value)):
                    self.sums[column][0] += float(value)
                    self.sums[column][1] += 1

    def text(self) -> str:
        parts = [
            f"{PROGRESS[column]} {total / count:.3g}"
            for column, (total, count) in self.sums.items()
            if count
        ]
        return f"{self.method} {' '.join(parts)}" if parts else ""


@contextmanager
def run_log(run_dir: Path) -> Iterator[None]:
    """run.log in the run dir for the `clustercam` loggers, unless a handler already writes it."""
    path = (run_dir / "run.log").resolve()
    logger = logging.getLogger("clustercam")
    handlers = [*logging.getLogger().handlers, *logger.handlers]
    if any(getattr(h, "baseFilename", None) == str(path) for h in handlers):
        yield
        return
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()
