"""Where a run works and how much it does at once: device, batch and chunk sizes, data workers,
and the numeric settings that make `precision=fp32` mean fp32 on every device.

`auto` sizes follow the device (docs/performance.md): on a GPU per-call overheads dominate, so
many images and large chunks per forward pass; on a CPU the forward passes themselves dominate
and one image at a time keeps memory low and an interrupted run cheap. Results never depend on them.

`provenance` says where a run ran (versions, device, commit), for its folder's runtime.json.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from clustercam.cost import AutocastPrecision

AUTO = "auto"
# (batch_size, chunk_size) chosen by `auto` per device type. On a CPU the masked passes (chunks)
# carry the work, so one image at a time costs nothing and keeps a resumed run bit-identical
# (float sums in a batched forward pass may round differently from a single image's).
AUTO_SIZES: dict[str, tuple[int, int]] = {"cuda": (32, 256), "cpu": (1, 16)}
MAX_CUDA_WORKERS = 4
# The packages whose versions a run records (their distribution names), this one's last.
PROVENANCE_PACKAGES = ("torch", "torchvision", "timm", "clustercam-bench")
GIT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Plan:
    """The resolved `device`, `batch_size`, `chunk_size` and `num_workers` of a run; `auto`
    names the sizes that were `auto`."""

    device: torch.device
    batch_size: int
    chunk_size: int
    num_workers: int
    auto: frozenset[str] = frozenset()

    def describe(self, requested: str = "") -> str:
        """E.g. `device cpu (device=auto): batch_size 1 (auto), chunk_size 16 (auto),
        num_workers 0 (auto)`, with the `device` value asked for when given."""
        sizes = ", ".join(
            f"{key} {getattr(self, key)}{' (auto)' if key in self.auto else ''}"
            for key in ("batch_size", "chunk_size", "num_workers")
        )
        asked = f" (device={requested})" if requested else ""
        return f"device {self.device}{asked}: {sizes}"


def resolve_device(name: str) -> torch.device:
    """`auto` is cuda when available, else cpu."""
    if name == AUTO:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def resolve_plan(device: str, batch_size: Any, chunk_size: Any, num_workers: Any) -> Plan:
    """Each `auto` replaced by the device's choice; integers checked (>= 1, workers >= 0)."""
    resolved = resolve_device(device)
    kind = "cuda" if resolved.type == "cuda" else "cpu"
    auto_batch, auto_chunk = AUTO_SIZES[kind]
    auto_workers = min(MAX_CUDA_WORKERS, os.cpu_count() or 1) if kind == "cuda" else 0
    given = {"batch_size": batch_size, "chunk_size": chunk_size, "num_workers": num_workers}
    return Plan(
        resolved,
        _size("batch_size", batch_size, auto_batch, minimum=1),
        _size("chunk_size", chunk_size, auto_chunk, minimum=1),
        _size("num_workers", num_workers, auto_workers, minimum=0),
        frozenset(key for key, value in given.items() if value == AUTO),
    )


def resolved_chunk_size(chunk_size: Any, device: str) -> int:
    """`chunk_size` with `auto` replaced by the device's choice; the methods' configs read it
    through the `resolved_chunk_size` resolver, so a config composed outside a run works too."""
    auto = AUTO_SIZES["cuda" if resolve_device(device).type == "cuda" else "cpu"][1]
    return _size("chunk_size", chunk_size, auto, minimum=1)


def set_numerics(device: torch.device, precision: AutocastPrecision) -> None:
    """With fp32 on CUDA, turns TF32 off so that fp32 means fp32 on every device.

    cuDNN's TF32 convolutions perturb activations by about 1e-3, enough to flip Cluster-CAM's
    clustering and break CPU/GPU agreement (docs/performance.md). Process-wide, as torch's
    flags are.
    """
    if device.type == "cuda" and precision == "fp32":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def _size(key: str, value: Any, auto: int, minimum: int) -> int:
    if value == AUTO:
        return auto
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be 'auto' or an integer >= {minimum}, got {value!r}")
    return value


def provenance(device: torch.device, precision: str) -> dict[str, Any]:
    """Where this start of a run runs, as JSON: when, package versions (None where one is not
    installed), python, device and card, precision, the checkout's git commit and whether its
    tracked files differ from it (both None without git or a checkout), and the command line.

    Never raises: a run must not fail for want of its provenance.
    """
    versions = {name: _installed_version(name) for name in PROVENANCE_PACKAGES}
    versions["torch"] = torch.__version__  # the one running, whatever the metadata says
    commit, dirty = git_state(Path(__file__).resolve().parent)
    return {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions,
        "python": platform.python_version(),
        "device": str(device),
        "card": card_name(device),
        "torch_cuda": torch.version.cuda,  # the CUDA torch was built for (None: CPU build)
        "precision": str(precision),
        "commit": commit,
        "dirty": dirty,
        "argv": list(sys.argv),
    }


def card_name(device: torch.device) -> str:
    """The GPU's name on CUDA, else the CPU's model (platform, else /proc/cpuinfo, else the
    machine type); '' when nothing says."""
    try:
        if device.type == "cuda":
            return torch.cuda.get_device_name(device)
    except Exception:  # a broken driver: the run itself will say more
        return ""
    name = platform.processor()
    if not name or name == platform.machine():
        try:
            with open("/proc/cpuinfo") as cpuinfo:
                models = [line for line in cpuinfo if line.startswith("model name")]
            name = models[0].split(":", 1)[1].strip() if models else name
        except OSError:
            pass
    return name or platform.machine()


def git_state(folder: Path) -> tuple[str | None, bool | None]:
    """(HEAD commit, tracked files changed since it) of the git checkout whose clustercam/bench is
    `folder`; (None, None) without git, outside a checkout (an installed copy) or on a timeout.
    Untracked files do not count as changes (as in `git describe --dirty`)."""
    head = _git(folder, "rev-parse", "--show-toplevel", "HEAD")
    lines = (head or "").splitlines()
    if len(lines) != 2:
        return None, None
    top, commit = lines
    if (Path(top) / "clustercam" / "bench").resolve() != folder.resolve():
        return None, None  # a copy installed inside some other repository
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return commit, None if status is None else bool(status.strip())


def _git(folder: Path, *arguments: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *arguments],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
