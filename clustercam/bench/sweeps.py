"""A Hydra multirun folder: its job folders in Hydra's order and each job's overrides.

Read by `gather` (one table of the jobs' summaries) and by the report (which sorts a sweep's jobs
into the K table or the variants table by the overrides that vary).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

HYDRA = ".hydra"


def job_number(job: Path) -> tuple[int, str]:
    """Sort key: Hydra's number of the job (hydra.job.num in .hydra/hydra.yaml), then the path.

    Jobs without hydra.yaml (copied or hand-made folders) come first, by path.
    """
    hydra_file = job / HYDRA / "hydra.yaml"
    number = -1
    if hydra_file.is_file():
        number = yaml.safe_load(hydra_file.read_text())["hydra"]["job"].get("num", -1)
    return number, str(job)


def job_dirs(multirun_dir: Path) -> list[Path]:
    """The job folders (those with .hydra/) anywhere under `multirun_dir`, in Hydra's order."""
    jobs = {path.parent.parent for path in Path(multirun_dir).rglob(f"{HYDRA}/overrides.yaml")}
    return sorted(jobs, key=job_number)


def parse_overrides(lines: Iterable[str]) -> dict[str, str]:
    """Hydra override strings (`+a.b=1`, `~x`) -> {dotted key: value text}; deletions map to ''."""
    parsed: dict[str, str] = {}
    for line in lines:
        key, _, value = str(line).partition("=")
        parsed[key.lstrip("+~")] = value
    return parsed


def overrides(job: Path) -> dict[str, str]:
    """The overrides of a job (`.hydra/overrides.yaml`); {} for a folder Hydra did not write."""
    path = job / HYDRA / "overrides.yaml"
    listed = yaml.safe_load(path.read_text()) if path.is_file() else None
    return parse_overrides(listed or [])
