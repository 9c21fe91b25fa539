"""`python -m clustercam.bench.merge SWEEP_DIR [...]`: a sweep's shards as unsharded run folders.

The jobs of a sweep that differ only in `data.shard_index` are the shards of one run. Each such
group becomes one run folder under `SWEEP_DIR/merged/` (or `--out`): config.yaml, per_image.csv,
curves.jsonl, maps/, setup_cost.json, runtime.json, summary.csv and summary.md, exactly what one
unsharded run of the same config writes (rows in the data set's order; the time columns aside).
`--report` then writes every table and figure of those folders (scripts/make_report.py).

Shards of one group must hold the same config (apart from `data.shard_index` and the keys a run
may resume with: device, batch_size, chunk_size), else nothing is merged. An image found in two
shards stops the merge. Shards still running, stopped or not started yet leave images missing:
the group is then written to `<name>.partial/`, its summary.md says how many images it holds,
and missing.txt lists the others, and the command exits with code 3 (0 with --allow-partial);
merge again when the jobs are done.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from clustercam.bench.build import build_samples, method_configs
from clustercam.bench.report.overview import finish_summary
from clustercam.bench.run_folder import (
    CHUNK_LIMITS,
    CONFIG,
    CURVES,
    MAPS,
    PER_IMAGE,
    RUNTIME,
    SETUP,
    STARTS,
    config_differences,
    finished_curves,
    finished_rows,
    order_key,
    smallest_chunks,
    write_table,
)
from clustercam.bench.summaries import write_summaries
from clustercam.bench.sweeps import HYDRA, job_dirs, overrides

SHARD_KEY = "data.shard_index"
PARTIAL = ".partial"
PARTIAL_EXIT = 3
MISSING = "missing.txt"


@dataclass
class Merged:
    """What one group of shards gave: its folder, image counts and what is missing."""

    name: str
    folder: Path
    n_images: int
    n_expected: int
    missing_shards: list[int] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.n_images == self.n_expected

    def describe(self) -> str:
        state = "complete" if self.complete else "PARTIAL"
        text = f"{self.name}: {self.n_images} of {self.n_expected} images, {state} -> {self.folder}"
        if self.missing_shards:
            text += f" (no records yet from shard(s) {', '.join(map(str, self.missing_shards))})"
        return text


def shard_groups(dirs: Sequence[Path]) -> dict[str, list[Path]]:
    """Run folders by group name: a job's overrides without the shard index (and without the
    keys Hydra leaves out of folder names, such as data.root). Run folders given directly (not
    sweeps) form one group, `merged`."""
    groups: dict[str, list[Path]] = {}
    for path in map(Path, dirs):
        if (path / CONFIG).is_file() and not (path / HYDRA).is_dir():
            groups.setdefault("merged", []).append(path)
            continue
        jobs = [path] if (path / HYDRA).is_dir() else job_dirs(path)
        for job in jobs:
            groups.setdefault(_group_name(job), []).append(job)
    if not groups:
        raise FileNotFoundError(
            f"no run folder (a folder with {CONFIG}, or a Hydra job with .hydra/) under "
            f"{', '.join(map(str, dirs))}"
        )
    return groups


def merge(name: str, jobs: Sequence[Path], out: Path) -> Merged:
    """Writes the shards `jobs` of one run as the unsharded run folder `out/<name>`."""
    started = [job for job in jobs if (job / CONFIG).is_file()]
    if not started:
        raise FileNotFoundError(f"{name}: no shard has started yet (no {CONFIG} in its folder)")
    configs = [yaml.safe_load((job / CONFIG).read_text()) for job in started]
    config = _unsharded(configs, started)
    methods = list(method_configs(OmegaConf.create(config)))
    samples = build_samples(OmegaConf.create(config["data"]))
    order = {s.image_id: position for position, s in enumerate(samples)}
    rows, sources = [], {}
    for job in started:
        shard_rows = finished_rows(job, methods)
        for image_id in dict.fromkeys(row["image_id"] for row in shard_rows):
            if image_id in sources:
                raise ValueError(
                    f"{name}: image {image_id} is in two shards ({sources[image_id]} and {job}); "
                    "the shards do not split one data set"
                )
            if image_id not in order:
                raise ValueError(
                    f"{name}: image {image_id} of {job} is not in the data set of the config "
                    f"({config['data'].get('name')}, {len(samples)} images)"
                )
            sources[image_id] = job
        rows += shard_rows
    rows.sort(key=order_key([s.image_id for s in samples], methods))
    found = set(sources)
    shards = {int(c["data"]["shard_index"]) for c in configs}
    merged = Merged(
        name,
        out / name,
        len(found),
        len(samples),
        sorted(set(range(int(configs[0]["data"]["shard_count"]))) - shards),
    )
    if not merged.complete:
        merged.folder = out / (name + PARTIAL)
    _write(merged, config, started, rows, methods, [s.image_id for s in samples], found)
    stale = out / (name if not merged.complete else name + PARTIAL)
    if stale.is_dir():
        shutil.rmtree(stale)
    return merged


def _write(
    merged: Merged,
    config: dict[str, Any],
    jobs: Sequence[Path],
    rows: list[dict[str, str]],
    methods: list[str],
    image_ids: list[str],
    found: set[str],
) -> None:
    """The run folder of the merged shards (see the module docstring)."""
    folder = merged.folder
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))
    write_table(folder / PER_IMAGE, rows)
    pairs = {(row["image_id"], row["method"]) for row in rows}
    lines = [line for job in jobs for line in finished_curves(job, pairs)]
    rank = order_key(image_ids, methods)
    lines.sort(key=lambda line: rank(json.loads(line)))
    (folder / CURVES).write_text("".join(f"{line}\n" for line in lines))
    for job in jobs:
        for image_map in (job / MAPS).glob("*.npz"):
            if image_map.stem in found:
                (folder / MAPS).mkdir(exist_ok=True)
                shutil.copy2(image_map, folder / MAPS / image_map.name)
    setup_costs = _first_json(jobs, SETUP)
    if setup_costs:
        (folder / SETUP).write_text(json.dumps(setup_costs, indent=1))
    runtimes = [json.loads((job / RUNTIME).read_text()) for job in jobs if (job / RUNTIME).exists()]
    if runtimes:  # every shard's starts, so the merged run still says where it came from
        merged_runtime = {
            CHUNK_LIMITS: smallest_chunks(r.get(CHUNK_LIMITS, {}) for r in runtimes),
            STARTS: [start for r in runtimes for start in r.get(STARTS, [])],
        }
        (folder / RUNTIME).write_text(json.dumps(merged_runtime, indent=1))
    preface = ""
    if not merged.complete:
        missing = [i for i in image_ids if i not in found]
        (folder / MISSING).write_text("".join(f"{i}\n" for i in missing))
        preface = (
            f"PARTIAL: {merged.n_images} of {merged.n_expected} images "
            f"({len(missing)} missing, listed in {MISSING}); "
            "merge again when every shard is done\n\n"
        )
    write_summaries(folder, methods, setup_costs, preface)
    finish_summary(folder, int(config.get("overview_images") or 0))


def _unsharded(configs: Sequence[dict[str, Any]], jobs: Sequence[Path]) -> dict[str, Any]:
    """The config of the unsharded run; the shards must agree on everything else."""
    for config, job in zip(configs[1:], jobs[1:]):
        changed = config_differences(configs[0], config, also_ignored=[SHARD_KEY])
        if changed:
            raise ValueError(
                f"{jobs[0]} and {job} are not shards of one run: their configs differ in "
                f"{', '.join(changed)}; merge each run's shards separately"
            )
    twice = [i for i, n in Counter(c["data"]["shard_index"] for c in configs).items() if n > 1]
    if twice:
        raise ValueError(f"shard {twice[0]} appears in more than one folder of {jobs[0].parent}")
    data = {**configs[0]["data"], "shard_index": 0, "shard_count": 1}
    return {**configs[0], "data": data}


def _group_name(job: Path) -> str:
    hydra_file = job / HYDRA / "hydra.yaml"
    excluded = {SHARD_KEY}
    if hydra_file.is_file():
        job_config = yaml.safe_load(hydra_file.read_text())["hydra"]["job"]
        excluded |= set(job_config["config"]["override_dirname"]["exclude_keys"])
    kept = [f"{k}={v}" for k, v in sorted(overrides(job).items()) if k not in excluded]
    return ",".join(kept) or "all"


def _first_json(jobs: Sequence[Path], name: str) -> dict[str, Any]:
    for job in jobs:
        if (job / name).is_file():
            return json.loads((job / name).read_text())
    return {}


def main(argv: Sequence[str] | None = None) -> list[Merged]:
    parser = argparse.ArgumentParser(
        prog="python -m clustercam.bench.merge",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dirs", type=Path, nargs="+", help="sweep folders or shard run folders")
    parser.add_argument(
        "--out", type=Path, help="where the merged runs go (default: merged/ in the first folder)"
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="also write every table and figure to <out>/report (report.partial if partial)",
    )
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help=f"exit 0 when images are missing (else exit code {PARTIAL_EXIT})",
    )
    args = parser.parse_args(argv)
    out = args.out or args.dirs[0] / "merged"
    results = [merge(name, jobs, out) for name, jobs in shard_groups(args.dirs).items()]
    for result in results:
        print(result.describe())
    if args.report:
        from clustercam.bench.report.cli import main as report

        complete = all(result.complete for result in results)
        target = out / ("report" if complete else "report" + PARTIAL)
        report([*(str(result.folder) for result in results), "--out", str(target)])
    if not all(result.complete for result in results):
        print("PARTIAL: some images have no records yet; merge again when every shard is done")
        if not args.allow_partial:
            sys.exit(PARTIAL_EXIT)
    return results


if __name__ == "__main__":
    main()
