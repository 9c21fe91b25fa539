"""Where the time of the masked-image methods goes, against the forward floor.

bench_speed says how far a method is from the floor; this says why. One process, one model, the
same images: the floor (best forward at batch `--chunk-size`), the scoring engine fed ready-made
inputs (engine overhead: padding, gathering scores), Score-CAM whole (minus the engine: building
its masked inputs), RISE's masks alone, Cluster-CAM (K=8) on 1, 4 and all images per call with the
operations it dispatches outside the model (on a GPU, kernel launches: its fixed cost per call),
the share of Score-CAM's, Cluster-CAM's and the `rise` metrics' time spent inside the model
(robust to a noisy machine, unlike ratios to a floor timed apart), then torch.profiler's top
operators of one Score-CAM call.

    python scripts/profile_scoring.py --model efficientnet_lite0 --device cuda --images 4
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from baselines import RISE, ScoreCAM
from clustercam import ClusterCAM
from clustercam.bench.data import bundled_samples, load_image
from clustercam.bench.devices import AUTO, resolved_chunk_size, set_numerics
from clustercam.bench.timing import default_weights, floor_seconds, synchronize
from clustercam.bench.zoo import MODELS, load_model
from clustercam.cost import counted, operations_outside
from clustercam.scoring import class_scores
from metrics import deletion, insertion

Result = TypeVar("Result")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0", help=f"one of {MODELS}")
    parser.add_argument("--weights", default=None, help="imagenet | random (as bench_speed)")
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu",
        help="cpu | cuda (default: cuda when available)",
    )
    parser.add_argument(
        "--images", type=int, default=4,
        help="photos per call (the bundled ones, repeated when more are asked)",
    )
    parser.add_argument(
        "--chunk-size", type=int, default=None,
        help="masked images per forward pass (default 256 on cuda, 16 on cpu)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3,
        help="timed runs of each row after one warm-up; the median is reported",
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    weights = args.weights or default_weights(args.model)
    zoo = load_model(args.model, weights=weights, device=args.device)
    set_numerics(zoo.device, "fp32")
    chunk = resolved_chunk_size(args.chunk_size or AUTO, args.device)
    counter = counted(zoo.model.eval())
    samples = bundled_samples()
    images = torch.stack([zoo.transform(load_image(samples[i % len(samples)].path))
                          for i in range(args.images)]).to(zoo.device)
    with torch.inference_mode():
        classes = counter(images).argmax(1)

    def timed(work: Callable[[], object]) -> float:
        """Median seconds of `repeats` runs after one warm-up run."""
        work()
        synchronize(zoo.device)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            work()
            synchronize(zoo.device)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    scorecam = ScoreCAM(counter, zoo.target_layer, chunk_size=chunk)
    forward0 = counter.forward_images
    scorecam(images, classes)
    n_masked = counter.forward_images - forward0 - len(images)
    # Ready-made inputs: the same images repeated; what the engine costs does not depend on them.
    which = torch.arange(n_masked, device=zoo.device) % len(images)
    ready = images[which[:chunk]]

    def engine() -> None:
        class_scores(counter, n_masked, lambda a, b: ready[: b - a], classes[which], chunk)

    rise = RISE(counter, zoo.target_layer, n_masks=4000, chunk_size=chunk)

    def rise_masks() -> None:
        for start in range(0, rise.n_masks, chunk):
            indices = torch.arange(start, min(start + chunk, rise.n_masks))
            rise.masks(indices, tuple(images.shape[-2:]), zoo.device)

    floor = floor_seconds(counter, images, chunk)
    scorecam_seconds = timed(lambda: scorecam(images, classes))
    rows = [  # (what, seconds, images whose forward floor it is compared with)
        ("floor x masked images", floor * n_masked, n_masked),
        ("engine, ready-made inputs", timed(engine), n_masked),
        ("Score-CAM whole", scorecam_seconds, n_masked),
        (f"RISE: {rise.n_masks} masks built alone", timed(rise_masks), rise.n_masks),
    ]
    clustercam = ClusterCAM(counter, zoo.target_layer, chunk_size=chunk)
    clustercam(images[:1], classes[:1])  # its setup: the blank image, scored once per model
    for n_images in sorted({1, min(4, len(images)), len(images)}):
        batch, targets = images[:n_images], classes[:n_images]
        forward0 = counter.forward_images
        with operations_outside(zoo.model) as operations:
            clustercam(batch, targets)
        passes = counter.forward_images - forward0
        seconds = timed(lambda batch=batch, targets=targets: clustercam(batch, targets))
        rows.append((
            f"Cluster-CAM K=8, calls of {n_images} image{'s' * (n_images > 1)} "
            f"({sum(operations.values())} operations "
            f"outside the model per call; Score-CAM / Cluster-CAM time per image "
            f"{scorecam_seconds / len(images) / (seconds / n_images):.1f}x)", seconds, passes,
        ))
    explanation, *scorecam_share = inside_model(
        zoo.model, zoo.device, lambda: scorecam(images, classes))
    metrics = [deletion("rise"), insertion("rise")]
    ends = [metric.endpoints(counter, images, classes, chunk) for metric in metrics]

    def score_maps() -> None:
        for metric, metric_ends in zip(metrics, ends):
            metric(counter, images, explanation.maps, classes, metric_ends, chunk)

    shares = [  # (what, seconds of one call, seconds of it inside the model's forward passes)
        ("Score-CAM", *scorecam_share),
        ("Cluster-CAM K=8",
         *inside_model(zoo.model, zoo.device, lambda: clustercam(images, classes))[1:]),
        ("deletion + insertion (rise) of the Score-CAM maps",
         *inside_model(zoo.model, zoo.device, score_maps)[1:]),
    ]
    activities = [ProfilerActivity.CPU] + (
        [ProfilerActivity.CUDA] if zoo.device.type == "cuda" else [])
    with profile(activities=activities) as profiler:
        scorecam(images, classes)
        synchronize(zoo.device)
    key = "self_cuda_time_total" if zoo.device.type == "cuda" else "self_cpu_time_total"
    lines = [
        f"# Profile: Score-CAM on {zoo.name} ({weights}), {zoo.device}, {len(images)} images, "
        f"{n_masked} masked images, chunk {chunk}, floor {1000 * floor:.4f} ms per image",
        "",
        *(f"- {name}: {seconds:.4f} s ({seconds / (floor * n):.2f}x the floor of {n} images)"
          for name, seconds, n in rows),
        "",
        "Time inside the model's forward passes, measured in the same call as the total (the "
        "device synchronised around each pass), so a machine-wide slowdown cancels out:",
        "",
        *(f"- {name}: {inside / seconds:.1%} of {seconds:.4f} s inside the model (total = "
          f"{seconds / inside:.3f}x the model's own time)" for name, seconds, inside in shares),
        "",
        "```",
        profiler.key_averages().table(sort_by=key, row_limit=15, max_name_column_width=40),
        "```",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


def inside_model(
    model: nn.Module, device: torch.device, work: Callable[[], Result]
) -> tuple[Result, float, float]:
    """What one call of `work` returns, its seconds and the seconds of it spent inside `model`'s
    forward passes."""
    inside, entered = 0.0, 0.0

    def enter(*_: object) -> None:
        nonlocal entered
        synchronize(device)
        entered = time.perf_counter()

    def leave(*_: object) -> None:
        nonlocal inside
        synchronize(device)
        inside += time.perf_counter() - entered

    handles = [model.register_forward_pre_hook(enter), model.register_forward_hook(leave)]
    try:
        synchronize(device)
        start = time.perf_counter()
        result = work()
        synchronize(device)
        return result, time.perf_counter() - start, inside
    finally:
        for handle in handles:
            handle.remove()


if __name__ == "__main__":
    main()
