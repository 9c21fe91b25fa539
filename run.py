"""Runs one benchmark experiment: `python run.py [group=option ...] [key=value ...]`.

The configs live in configs/; the README (Running experiments) lists the common commands
and what lands where.
"""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from clustercam.bench.experiment import run


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def main(cfg: DictConfig) -> None:
    run(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
