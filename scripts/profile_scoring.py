"""Where the time of the masked-image methods goes, against the forward floor.

bench_speed says how far a method is from the floor; this says why. One process, one model, the
same images: the floor (best forward at batch `--chunk-size`), the scoring engine fed ready-made
inputs (engine overhead: padding, gathering scores), the masked inputs built alone (upsampling,
normalising, multiplying), Score-CAM whole, RISE's masks alone, then torch.profiler's top
operators of one Score-CAM call.

    python scripts/profile_scoring.py --model efficientnet_lite0 --device cuda --images 4
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from bench_speed import floor_seconds, synchronize
from torch.profiler import ProfilerActivity, profile

from baselines import RISE, ScoreCAM
from clustercam.base import capture_output
from clustercam.bench.data import bundled_samples, load_image
from clustercam.bench.devices import set_numerics
from clustercam.bench.zoo import MODELS, load_model
from clustercam.cost import counted
from clustercam.ops import is_constant, minmax_normalize, upsample
from clustercam.scoring import class_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0", help=f"one of {MODELS}")
    parser.add_argument("--weights", default=None, help="imagenet | random (as bench_speed)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    weights = args.weights or ("imagenet" if args.model == "efficientnet_lite0" else "random")
    zoo = load_model(args.model, weights=weights, device=args.device)
    set_numerics(zoo.device, "fp32")
    chunk = args.chunk_size or (256 if zoo.device.type == "cuda" else 16)
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
    with torch.inference_mode():
        activations = capture(counter, scorecam, images)
    maps = torch.cat([a[~is_constant(a)] for a in activations])
    owner = torch.cat([torch.full((int((~is_constant(a)).sum()),), b, device=zoo.device)
                       for b, a in enumerate(activations)])
    size = images.shape[-2:]

    def build(start: int, stop: int) -> torch.Tensor:
        masks = minmax_normalize(upsample(maps[start:stop], size))[:, None]
        return images[owner[start:stop]] * masks

    ready = build(0, min(chunk, n_masked))

    def engine() -> None:
        class_scores(counter, n_masked, lambda a, b: ready[: b - a], classes[owner], chunk)

    def build_all() -> None:
        with torch.inference_mode():
            for start in range(0, n_masked, chunk):
                build(start, min(start + chunk, n_masked))

    rise = RISE(counter, zoo.target_layer, n_masks=4000, chunk_size=chunk)

    def rise_masks() -> None:
        for start in range(0, rise.n_masks, chunk):
            indices = torch.arange(start, min(start + chunk, rise.n_masks))
            rise.masks(indices, tuple(size)).to(zoo.device)

    floor = floor_seconds(counter, images, chunk)
    rows = [  # (what, seconds, images whose forward floor it is compared with)
        ("floor x masked images", floor * n_masked, n_masked),
        ("engine, ready-made inputs", timed(engine), n_masked),
        ("masked inputs built alone", timed(build_all), n_masked),
        ("Score-CAM whole", timed(lambda: scorecam(images, classes)), n_masked),
        (f"RISE: {rise.n_masks} masks built alone", timed(rise_masks), rise.n_masks),
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
        "```",
        profiler.key_averages().table(sort_by=key, row_limit=15, max_name_column_width=40),
        "```",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


def capture(counter: torch.nn.Module, method: ScoreCAM, images: torch.Tensor) -> torch.Tensor:
    """The target layer's activations of `images` (B, K, h, w), as the method sees them."""
    with capture_output(method.layer) as hooked:
        counter(images)
    return hooked.output.detach().float()


if __name__ == "__main__":
    main()
