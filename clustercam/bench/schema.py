"""The typed top level of the run config (configs/config.yaml), so that Hydra itself refuses a bad
value on the command line and names the valid ones, before anything runs.

Registered in Hydra's ConfigStore as `run_schema` on import; `clustercam.bench.experiment`
imports it. Importing it also registers the `metrics_preset` resolver, through which
configs/shared/metrics.yaml reads the presets' numbers from their one table, metrics.PRESETS, and
the `resolved_chunk_size` resolver, through which the methods' configs read `chunk_size: auto` as
the device's chunk size (clustercam/bench/devices.py).
"""

from __future__ import annotations

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


ConfigStore.instance().store(name="run_schema", node=RunConfig)
# ${resolved_chunk_size:${chunk_size},${device}} -> 16 on the CPU for `auto`
OmegaConf.register_new_resolver("resolved_chunk_size", resolved_chunk_size, replace=True)
# ${metrics_preset:rise,step} -> 224
OmegaConf.register_new_resolver(
    "metrics_preset", lambda name, key: getattr(preset(name), key), replace=True
)
