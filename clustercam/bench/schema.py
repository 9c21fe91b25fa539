"""The typed top level of the run config (configs/config.yaml), so that Hydra itself refuses a bad
value on the command line and names the valid ones, before anything runs.

Registered in Hydra's ConfigStore as `run_schema` on import; `clustercam.bench.build` imports
it. Importing it also registers the `metrics_preset` resolver, through which
configs/metrics_base.yaml reads the presets' numbers from their one table, metrics.PRESETS; the
`resolved_chunk_size` resolver, through which the methods' configs read `chunk_size: auto` as the
device's chunk size (clustercam/bench/devices.py); and the `run_folder` resolver that names run
folders (configs/config.yaml).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from clustercam.bench.devices import resolved_chunk_size
from metrics import preset


class Target(str, Enum):
    predicted = "predicted"
    label = "label"


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"
    auto = "auto"


class PrecisionName(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


@dataclass
class RunConfig:
    method: Any = MISSING
    methods: dict[str, Any] = field(default_factory=dict)
    model: Any = MISSING
    data: Any = MISSING
    metrics: Any = MISSING
    seed: int = 0
    device: Device = Device.auto
    batch_size: Any = "auto"  # 'auto' or an int >= 1; checked by clustercam.bench.devices
    chunk_size: Any = "auto"
    num_workers: Any = "auto"
    precision: PrecisionName = PrecisionName.fp32
    warmup: bool | None = None
    target: Target = Target.predicted
    save_maps: bool = False
    overview_images: int = 3
    max_cpu_minutes: float | None = 60.0


ConfigStore.instance().store(name="run_schema", node=RunConfig)
# ${resolved_chunk_size:${chunk_size},${device}} -> 16 on the CPU for `auto`
OmegaConf.register_new_resolver("resolved_chunk_size", resolved_chunk_size, replace=True)
# Characters Hydra's override grammar takes unquoted in `hydra.run.dir=...` (and no shell quoting).
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+@-]+")


def run_folder_name(prefix: object, overrides: str) -> str:
    """`prefix` and the job's overrides as a folder name that a resume command can give back as is.

    Characters Hydra or a shell would need quoted (`=`, `,`, brackets, quotes, `:`, `/`, spaces)
    become `-`; no trailing `_` when there are no overrides.
    """
    safe = _UNSAFE.sub("-", str(overrides)).strip("-")
    return "_".join(part for part in (str(prefix), safe) if part) or "job"


# ${run_folder:${now:%Y-%m-%d_%H-%M-%S},${hydra.job.override_dirname}} in configs/config.yaml
OmegaConf.register_new_resolver("run_folder", run_folder_name, replace=True)
# ${metrics_preset:rise,step} -> 224
OmegaConf.register_new_resolver(
    "metrics_preset", lambda name, key: getattr(preset(name), key), replace=True
)
