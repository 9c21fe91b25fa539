"""Speed of our methods beside pytorch-grad-cam and torchcam, and of the metrics, against the floor.

One process, one model, the same images and the same target classes for every row. Each row runs
once as warm-up (reported apart: cuDNN plans, allocator growth), then `--repeats` timed runs over
all images; seconds per image is the median. The floor is the best measured per-image forward time
at batch `--chunk-size` (the largest batch any row uses), so overhead = seconds / (forward passes x
floor) says how close a row runs to pure forward passes (backward passes are listed apart).
Pearson compares each map with the reference named in its row (per image, then the mean).
pytorch-grad-cam and torchcam come with the optional `bench` extra; without them their rows are
skipped with a note.

    python scripts/bench_speed.py --model efficientnet_lite0 --device cpu --images 2 --repeats 1
    python scripts/bench_speed.py --model resnet50 --weights random --device cuda --images 32

Writes results/bench_speed_<device>.md and .csv, and prints the projected time of a 50,000-image
run for Cluster-CAM (K=8) and for the compare_all runner workload with the `rise` metrics; with
`--runner RUN_DIR`, also the runner's own per-image seconds against this floor and the
50,000-image run they project (scripts/gpu_check.sh runs the runner, then this).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import platform
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from baselines import CenterMap, GradCAM, GradCAMPlusPlus, RandomMap, ScoreCAM
from clustercam import ClusterCAM
from clustercam.bench.data import bundled_samples, load_image
from clustercam.bench.devices import AUTO, resolved_chunk_size, set_numerics
from clustercam.bench.run_folder import method_costs
from clustercam.bench.timing import default_weights, floor_seconds, synchronize
from clustercam.bench.zoo import MODELS, ZooModel, load_model
from clustercam.cam_method import resolve_layer
from clustercam.cost import PRECISIONS, CostCounter, counted
from clustercam.map_ops import minmax_normalize, upsample
from metrics import confidence, deletion, insertion

FULL_RUN_IMAGES = 50_000
COMPARE_ALL = ("clustercam k=8", "gradcam", "gradcam++", "scorecam", "random", "center")

# Maps (B, H, W) of a batch of images for the given target classes.
Explain = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Row:
    """One timed configuration; `per_image` runs it image by image instead of as one batch."""

    name: str
    library: str
    explain: Explain
    per_image: bool = False
    reference: str = ""
    seconds: float = float("nan")
    warmup: float = float("nan")
    forward: float = float("nan")
    backward: float = float("nan")
    peak_mib: float = float("nan")
    pearson: float = float("nan")
    maps: torch.Tensor | None = field(default=None, repr=False)

    @property
    def batch(self) -> str:
        return "1" if self.per_image else "batch"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0", help=f"one of {MODELS}")
    parser.add_argument("--weights", default=None, help="imagenet | random (default: imagenet for "
                        "efficientnet_lite0, random for the others: offline they lack weights)")
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu",
        help="cpu | cuda (default: cuda when available)",
    )
    parser.add_argument(
        "--images", type=int, default=8,
        help="photos timed (the bundled ones, repeated when more are asked)",
    )
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="masked images per forward (default 256 on cuda, 16 on cpu)")
    parser.add_argument(
        "--repeats", type=int, default=3,
        help="timed runs of each row after one warm-up; the median is reported",
    )
    parser.add_argument(
        "--precision", default="fp32", choices=PRECISIONS,
        help="fp32, or autocast to bf16 / fp16 (docs/performance.md)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results"),
        help="folder of bench_speed_<device>.md and .csv",
    )
    parser.add_argument("--runner", type=Path, default=None, metavar="RUN_DIR",
                        help="a run folder of the runner (e.g. experiment=compare_all "
                        "metrics=rise) on this model and device: its per-image seconds go in "
                        "the tables against this floor, and project the 50,000-image run")
    args = parser.parse_args(argv)
    weights = args.weights or default_weights(args.model)
    zoo = load_model(args.model, weights=weights, device=args.device)
    set_numerics(zoo.device, args.precision)  # as the runner: fp32 on CUDA without TF32
    chunk_size = resolved_chunk_size(args.chunk_size or AUTO, args.device)
    command = (
        f"python scripts/bench_speed.py --model {args.model} --weights {weights} "
        f"--device {args.device} --images {args.images} --chunk-size {chunk_size} "
        f"--repeats {args.repeats} --precision {args.precision}"
        + (f" --runner {args.runner}" if args.runner else "")
    )
    run(zoo, args.images, chunk_size, args.repeats, args.precision, args.out, command,
        runner=args.runner)


def run(
    zoo: ZooModel,
    n_images: int,
    chunk_size: int,
    repeats: int,
    precision: str,
    out: Path,
    command: str,
    cluster_sizes: tuple[int, ...] = (8, 32),
    runner: Path | None = None,
) -> list[Row]:
    """Measures every row on `n_images` bundled photos; writes the tables and prints projections.

    `cluster_sizes` are the Cluster-CAM K's timed; K=8 (the runner's default) must be among them.
    `runner`: a run folder whose per-image costs are set against this floor (`runner_lines`).
    """
    if n_images < 1 or repeats < 1 or chunk_size < 1:
        raise ValueError("--images, --repeats and --chunk-size must all be >= 1")
    model = zoo.model.eval()
    samples = bundled_samples()
    images = torch.stack(
        [zoo.transform(load_image(samples[i % len(samples)].path)) for i in range(n_images)]
    ).to(zoo.device)
    counter = counted(model, precision)
    with torch.inference_mode():
        logits = counter(images)
    classes = logits.argmax(1)
    original = logits.softmax(1).gather(1, classes[:, None])[:, 0]
    floor = floor_seconds(counter, images, chunk_size)
    print(f"floor: {1000 * floor:.3f} ms per image at batch {chunk_size} on {zoo.device}")
    the_runner = runner_lines(runner, floor) if runner else []

    rows = our_rows(counter, zoo.target_layer, chunk_size, cluster_sizes)
    if precision == "fp32":
        rows += their_rows(counter, resolve_layer(model, zoo.target_layer), chunk_size)
    else:  # and the comparison is only fair at equal precision
        rows.append(Row("", "note", none, reference="pytorch-grad-cam and torchcam rows: "
                        "fp32 only (pytorch-grad-cam hands activations to NumPy, which has no "
                        "bfloat16)"))
    notes = [row.reference for row in rows if row.library == "note"]
    rows = [row for row in rows if row.library != "note"]
    # Our batch rows and the metrics first, then the other libraries, one-image rows last (the
    # longest): a run cut short by a time limit keeps what it measured (tables rewritten per row).
    measured: list[Row] = []

    def save(final_notes: list[str]) -> None:
        set_pearsons(measured)
        write_tables(measured, floor, chunk_size, zoo, n_images, precision, command, out,
                     notes + final_notes, the_runner)

    def add(new_rows: list[Row]) -> None:
        measured.extend(new_rows)
        save([f"cut short: {len(measured)} of {len(rows) + 2} rows measured so far"])

    ours_batch = [row for row in rows if row.library == "ours" and not row.per_image]
    theirs = [row for row in rows if row.library != "ours"]
    for row in ours_batch:
        add([measure_and_print(row, counter, images, classes, repeats)])
    add(measure_metrics(counter, images, classes, original, chunk_size, measured, repeats))
    for row in theirs + [row for row in rows if row.per_image]:
        add([measure_and_print(row, counter, images, classes, repeats)])
    projections = project(measured, floor)
    save(projections)
    print("\n".join(notes + projections + the_runner))
    return measured


def measure_and_print(
    row: Row, counter: CostCounter, images: torch.Tensor, classes: torch.Tensor, repeats: int
) -> Row:
    measure(row, counter, images, classes, repeats)
    print(f"{row.library:>16} {row.name:<16} {row.batch:>5}: {row.seconds:.4f} s/image, "
          f"{row.forward:.0f} forwards, warm-up {row.warmup:.2f} s", flush=True)
    return row


def set_pearsons(rows: list[Row]) -> None:
    """Each row's Pearson against the batch row of the reference it names, once that is measured."""
    maps_by_name = {(row.library, row.name, row.batch): row.maps for row in rows}
    for row in rows:
        if row.reference:
            library, name = row.reference.split(": ")
            reference = maps_by_name.get((library, name, "batch"))
            if reference is not None:
                row.pearson = pearson(row.maps, reference)


def our_rows(
    counter: CostCounter, layer: str, chunk_size: int, cluster_sizes: tuple[int, ...]
) -> list[Row]:
    def ours(method) -> Explain:
        return lambda images, classes: method(images, classes).maps

    def cluster(k: int) -> ClusterCAM:
        return ClusterCAM(counter, layer, n_clusters=k, chunk_size=chunk_size)

    rows = []
    for per_image in (True, False):
        rows += [
            Row("gradcam", "ours", ours(GradCAM(counter, layer)), per_image,
                "pytorch-grad-cam: gradcam"),
            Row("scorecam", "ours", ours(ScoreCAM(counter, layer, chunk_size=chunk_size)),
                per_image, "pytorch-grad-cam: scorecam"),
            *(Row(f"clustercam k={k}", "ours", ours(cluster(k)), per_image, "ours: scorecam")
              for k in cluster_sizes),
        ]
    rows += [  # the rest of the compare_all runner workload
        Row("gradcam++", "ours", ours(GradCAMPlusPlus(counter, layer))),
        Row("random", "ours", ours(RandomMap(counter, layer))),
        Row("center", "ours", ours(CenterMap(counter, layer))),
    ]
    return rows


def their_rows(counter: CostCounter, layer: nn.Module, chunk_size: int) -> list[Row]:
    """pytorch-grad-cam and torchcam at our chunk size, through the same counted model."""
    rows = []
    if importlib.util.find_spec("pytorch_grad_cam") is None:
        rows.append(Row("", "note", none, reference="pytorch-grad-cam not installed: rows "
                        "skipped (pip install -e '.[adapters]')"))
    else:
        from pytorch_grad_cam import GradCAM as TheirGradCAM
        from pytorch_grad_cam import ScoreCAM as TheirScoreCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        def grad_cam_library(make: Callable[[], object]) -> Explain:
            def explain(images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
                # Built per call and released after: pytorch-grad-cam's hooks copy the layer's
                # output to the host on every forward, which would slow every other row too.
                with make() as method:
                    targets = [ClassifierOutputTarget(int(c)) for c in classes]
                    maps = method(input_tensor=images, targets=targets)
                return torch.as_tensor(maps, device=images.device).float()

            return explain

        def their_scorecam() -> object:
            method = TheirScoreCAM(counter, [layer])
            method.batch_size = chunk_size
            return method

        rows += [
            Row("gradcam", "pytorch-grad-cam",
                grad_cam_library(lambda: TheirGradCAM(counter, [layer])),
                reference="ours: gradcam"),
            Row("scorecam", "pytorch-grad-cam", grad_cam_library(their_scorecam),
                reference="ours: scorecam"),
        ]
    if importlib.util.find_spec("torchcam") is None:
        rows.append(Row("", "note", none, reference="torchcam not installed: rows skipped "
                        "(pip install -e '.[adapters]')"))
    else:
        from torchcam.methods import GradCAM as TorchcamGradCAM
        from torchcam.methods import ScoreCAM as TorchcamScoreCAM

        def torchcam(make: Callable[[], object], gradients: bool) -> Explain:
            def explain(images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
                extractor = make()  # hooks live as long as the extractor: one per call
                try:
                    with torch.set_grad_enabled(gradients):
                        scores = counter(images)
                        maps = extractor(classes.tolist(), scores)[0]
                finally:
                    extractor.remove_hooks()
                return minmax_normalize(
                    upsample(maps.detach().float(), images.shape[-2:]), over=(-2, -1)
                )

            return explain

        shape = None  # torchcam's own dummy forward is skipped by passing the layer itself
        rows += [
            Row("gradcam", "torchcam", torchcam(
                lambda: TorchcamGradCAM(counter, layer, input_shape=shape), True),
                reference="ours: gradcam"),
            Row("scorecam", "torchcam", torchcam(
                lambda: TorchcamScoreCAM(counter, layer, batch_size=chunk_size,
                                         input_shape=shape), False),
                reference="ours: scorecam"),
        ]
    return rows


def none(images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    raise AssertionError("a note row is never run")


def measure(
    row: Row, counter: CostCounter, images: torch.Tensor, classes: torch.Tensor, repeats: int
) -> None:
    """Warm-up once, then the median of `repeats` timed runs over all images."""

    def once() -> torch.Tensor:
        if row.per_image:
            return torch.cat([row.explain(images[i : i + 1], classes[i : i + 1])
                              for i in range(len(images))])
        return row.explain(images, classes)

    start = time.perf_counter()
    once()
    synchronize(images.device)
    row.warmup = time.perf_counter() - start
    times = []
    reset_peak_memory(images.device)
    forward0, backward0 = counter.forward_images, counter.backward_images
    for _ in range(repeats):
        start = time.perf_counter()
        row.maps = once().detach()
        synchronize(images.device)
        times.append(time.perf_counter() - start)
    spent = repeats * len(images)
    row.seconds = statistics.median(times) / len(images)
    row.forward = (counter.forward_images - forward0) / spent
    row.backward = (counter.backward_images - backward0) / spent
    row.peak_mib = peak_memory_mib(images.device)


def measure_metrics(
    counter: CostCounter,
    images: torch.Tensor,
    classes: torch.Tensor,
    original: torch.Tensor,
    chunk_size: int,
    rows: list[Row],
    repeats: int,
) -> list[Row]:
    """The runner's `rise` metrics on our Grad-CAM maps: endpoints once per image, the rest per
    method (deletion and insertion curves given the endpoints, confidence continuous and top50)."""
    maps = next(r.maps for r in rows if r.library == "ours" and r.name == "gradcam")
    causal = (deletion("rise"), insertion("rise"))
    ends = [metric.endpoints(counter, images, classes, chunk_size, original) for metric in causal]

    def endpoints(images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        for metric in causal:
            metric.endpoints(counter, images, classes, chunk_size, original)
        return maps

    def per_method(images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        for metric, end in zip(causal, ends):
            metric(counter, images, maps, classes, end, chunk_size)
        for mode in ("continuous", "top50"):
            confidence(counter, images, maps, classes, mode, chunk_size, original)
        return maps

    metric_rows = [
        Row("endpoints", "metrics rise", endpoints),
        Row("per method", "metrics rise", per_method),
    ]
    for row in metric_rows:
        measure(row, counter, images, classes, repeats)
    return metric_rows


def pearson(maps: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean over images of the Pearson correlation of two (B, H, W) map stacks."""
    a = maps.flatten(1).double().cpu()
    b = reference.flatten(1).double().cpu()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return float(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).mean())


def project(rows: list[Row], floor: float) -> list[str]:
    """Projected hours for 50,000 images from the measured per-image seconds (batch rows)."""
    by_name = {row.name: row for row in rows if row.batch == "batch"}
    endpoints, metrics = by_name["endpoints"], by_name["per method"]
    workload = [by_name[name] for name in COMPARE_ALL]
    seconds = (sum(r.seconds for r in workload) + len(workload) * metrics.seconds
               + endpoints.seconds)
    passes = (sum(r.forward for r in workload) + len(workload) * metrics.forward
              + endpoints.forward)
    hours = FULL_RUN_IMAGES / 3600
    cluster = by_name["clustercam k=8"]
    return [
        f"Projected {FULL_RUN_IMAGES:,} images, Cluster-CAM K=8 alone: "
        f"{cluster.seconds * hours:.2f} h ({cluster.forward:.0f} forwards per image).",
        f"Projected {FULL_RUN_IMAGES:,} images, compare_all with metrics=rise "
        f"({len(workload)} methods, each scored by deletion, insertion, confidence x2): "
        f"{seconds * hours:.2f} h; {passes:.0f} forwards per image, whose floor alone is "
        f"{passes * floor * hours:.2f} h ({seconds / (passes * floor):.2f}x the floor; the "
        "runner's own loop, data loading and records are not included).",
    ]


def runner_lines(run_dir: Path, floor: float) -> list[str]:
    """The runner's own per-image costs (method + its metrics, each method's row counting the
    shared original pass and endpoints) against `floor`, and the 50,000-image run they project.

    Read from per_image.csv, which a run cut short by a time limit also has.
    """
    costs = method_costs(run_dir)
    means = costs.assign(total_seconds=costs["seconds"] + costs["metric_seconds"],
                         total_forward=costs["forward"] + costs["metric_forward"])
    seconds, forward = means["total_seconds"].sum(), means["total_forward"].sum()
    lines = [
        f"## The runner: `{run_dir}`",
        "",
        "Per image, each method with its metrics (both include the shared original pass and "
        "endpoints); tail passes are not in the floor.",
        "",
        "| method | images | seconds/image | forwards/image | tail/image | overhead |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {method} | {row['images']:.0f} | {row['total_seconds']:.4f} | "
          f"{row['total_forward']:.0f} | {row['tail']:.0f} | "
          f"{row['total_seconds'] / (row['total_forward'] * floor):.2f} |"
          for method, row in means.iterrows()),
        f"| all methods | {means['images'].max()} | {seconds:.4f} | {forward:.0f} | "
        f"{means['tail'].sum():.0f} | {seconds / (forward * floor):.2f} |",
        "",
        f"Projected {FULL_RUN_IMAGES:,} images from the runner's measured per-image seconds: "
        f"{seconds * FULL_RUN_IMAGES / 3600:.2f} h ({forward * floor * FULL_RUN_IMAGES / 3600:.2f}"
        " h of forward floor).",
    ]
    return lines


def write_tables(
    rows: list[Row],
    floor: float,
    chunk_size: int,
    zoo: ZooModel,
    n_images: int,
    precision: str,
    command: str,
    out: Path,
    notes: list[str],
    runner: list[str],
) -> None:
    header = ["library", "method", "batch", "seconds/image", "warm-up s", "forwards/image",
              "backwards/image", "overhead", "peak MiB", "pearson", "pearson vs"]
    table = [
        [row.library, row.name, row.batch, f"{row.seconds:.4f}", f"{row.warmup:.2f}",
         f"{row.forward:.0f}", f"{row.backward:.0f}",
         f"{row.seconds / (row.forward * floor):.2f}" if row.forward else "",
         f"{row.peak_mib:.0f}", "" if row.pearson != row.pearson else f"{row.pearson:.4f}",
         row.reference if row.pearson == row.pearson else ""]
        for row in rows
    ]
    device = zoo.device.type
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"bench_speed_{device}.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(table)
    memory = "GPU max allocated" if device == "cuda" else "process peak RSS"
    where = torch.cuda.get_device_name(zoo.device) if device == "cuda" else (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads")
    lines = [
        f"# Speed per image: {zoo.name} on {device} ({where})",
        "",
        f"Command: `{command}`  ",
        f"{n_images} bundled photos, chunk size {chunk_size}, precision {precision}, torch "
        f"{torch.__version__}. Floor: {1000 * floor:.3f} ms per image (best forward at batch "
        f"{chunk_size}). Overhead = seconds / (forwards x floor). Peak memory: {memory}. "
        "`batch` rows explain all images in one call, `1` rows one image per call.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * 3 + "---:|" * 7 + "---|",
        *("| " + " | ".join(line) + " |" for line in table),
        "",
        *(f"- {note}" for note in notes),
        *(["", *runner] if runner else []),
    ]
    (out / f"bench_speed_{device}.md").write_text("\n".join(lines) + "\n")


def reset_peak_memory(device: torch.device) -> None:
    """GPU: reset torch's high-water mark; CPU: reset the kernel's peak RSS (Linux clear_refs)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    with contextlib.suppress(OSError):  # else the peak covers the whole process so far
        Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        status = Path("/proc/self/status").read_text()
        return next(int(line.split()[1]) for line in status.splitlines()
                    if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
