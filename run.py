"""Runs one benchmark experiment: `python run.py [group=option ...] [key=value ...]`.

The configs live in configs/; `python run.py --help` and the README (Running experiments) list
the common commands, how to resume and what lands where. What happens around the experiment loop
(the config checked before anything is written, the resume command, clean errors) is in
clustercam/bench/run_command.py.
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from clustercam.bench import run_command

CONFIGS = Path(__file__).resolve().parent / "configs"


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def main(cfg: DictConfig) -> None:
    run_command.main(cfg)


if __name__ == "__main__":
    run_command.refuse_unknown_overrides(CONFIGS, sys.argv[1:])
    main()
