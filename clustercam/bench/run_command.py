"""What `python run.py` does around the experiment loop, for a person at a terminal.

The config is checked before anything is written: every value, every method constructed with the
run's options on the model built on the meta device, then the model's weights loaded (Hydra only
creates the run folder: a folder it created for a refused config is removed again;
configs/config.yaml turns off its .hydra/ copies and its log file, written here once the config
passed). What the check built is what the run goes on with. A ConfigError (a constructor's
ValueError included) or missing weights (WeightsUnavailableError) is printed as one line and exits
with code 2; `hydra.verbose=true` or HYDRA_FULL_ERROR=1 keeps the traceback. The exact resume
command is printed once the run has started, and again on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import ConfigCompositionException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from clustercam.bench import build
from clustercam.bench.build import Setup
from clustercam.bench.errors import ConfigError
from clustercam.bench.estimate import Estimate, budgets, check_cpu_time, estimate
from clustercam.bench.experiment import run, run_log
from clustercam.bench.run_folder import finished_rows
from clustercam.bench.validate import check, load, unknown_key
from clustercam.bench.zoo import RANDOM, WeightsUnavailableError

log = logging.getLogger(__name__)

CONFIG_ERROR_EXIT = 2
HYDRA_FILES = ".hydra"
# Run or sweep folder -> its deepest ancestor that existed before Hydra made it (the callback
# notes them): what a refused config leaves is removed up to there.
_EXISTED: dict[Path, Path] = {}


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt so that the run stops the way Ctrl-C stops it."""


class RunDirCallback(Callback):
    """Notes whether the run (or sweep) folder existed before Hydra creates it."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _note(config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _note(config.hydra.sweep.dir)
        folder = _submitit_folder(config)
        if folder is not None:  # hydra/launcher=local or slurm: the jobs print nothing here
            _remove_empty(folder, folder.parent)  # left by an earlier submission
            print(
                "the jobs run as processes of their own and print nothing here until all end; "
                f"progress: tail -f {_shown(folder.parent)}/*/*_log.err; each job's log: "
                "run.log in its folder"
            )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """The sweep's one view, once every job is done (its per-job lines come before)."""
        folder = _submitit_folder(config)
        if folder is not None:
            _remove_empty(folder, folder.parent)  # submitit's folder before job ids exist
        print(f"sweep done; one table of its jobs: {gather_command(config.hydra.sweep.dir)}")


def _submitit_folder(config: DictConfig) -> Path | None:
    """The submitit launcher's folder pattern (`<sweep>/.submitit/%j`), which submitit also
    creates as it is, unexpanded; None for another launcher."""
    folder = OmegaConf.select(config, "hydra.launcher.submitit_folder")
    return Path(str(folder)) if folder is not None and "%" in str(folder) else None


def _note(folder: str) -> None:
    path = Path(folder).resolve()
    _EXISTED[path] = next(p for p in (path, *path.parents) if p.exists())


def main(cfg: DictConfig) -> None:
    """Checks `cfg` and loads its model, then runs (or resumes) it in Hydra's output folder."""
    hydra = HydraConfig.get()
    run_dir = Path(hydra.runtime.output_dir)
    with _sigterm_as_interrupt():
        try:
            checked = check(cfg, run_dir)
            setup = load(checked)  # the model's weights, before anything is written
            found = _estimate(setup, run_dir)  # a CPU run too long to wait for is refused
        except (ConfigError, WeightsUnavailableError) as error:
            _remove_if_new(run_dir, hydra)
            _fail(error, hydra.verbose)
        except KeyboardInterrupt as interrupt:
            _remove_if_new(run_dir, hydra)
            print("interrupted before the run started; nothing was written", file=sys.stderr)
            sys.exit(_interrupted_code(interrupt))
        _write_hydra_files(run_dir, cfg, hydra)
        command = resume_command(hydra, run_dir)
        with run_log(run_dir):
            log.info("resume with: %s", command)
            log.info("%s", checked.describe())
            _notes(setup, found)
            try:
                run(cfg, run_dir, setup=setup)
            except KeyboardInterrupt as interrupt:
                log.warning("interrupted; nothing finished is lost. Resume with: %s", command)
                sys.exit(_interrupted_code(interrupt))
            except (ConfigError, WeightsUnavailableError) as error:
                _fail(error, hydra.verbose)


def _estimate(setup: Setup, run_dir: Path) -> Estimate | None:
    """The estimate of the images still to explain (a resumed run's finished ones aside), checked
    against max_cpu_minutes; None when nothing is left or no image can be read."""
    done = {row["image_id"] for row in finished_rows(run_dir, list(setup.methods))}
    remaining = sum(sample.image_id not in done for sample in setup.samples)
    if not remaining or setup.zoo is None:
        return None
    found = estimate(setup, setup.zoo, remaining)
    if found is not None:
        check_cpu_time(found, setup.cfg.max_cpu_minutes, budgets(setup.methods))
    return found


def _notes(setup: Setup, found: Estimate | None) -> None:
    """What a person should know before the loop: the estimate, reduced sample budgets, random
    weights, and fewer images than data.n_images asked for."""
    if found is not None:
        log.info("%s", found.describe())
    reduced = budgets(setup.methods)
    if reduced:
        log.info("sample budgets below the methods' defaults: %s", ", ".join(reduced))
    model = setup.config["model"]
    if model.get("weights") == RANDOM:
        log.warning(
            "model.weights=random: %s is untrained, so its maps and metrics say nothing about the "
            "trained network (flagged in summary.md and in every report table)",
            model.get("name"),
        )
    data = setup.config["data"]
    asked = data.get("n_images")
    if asked and data.get("shard_count", 1) == 1 and len(setup.samples) < asked:
        log.warning(
            "data.n_images=%d, but data %s has only %d images (after its other subset options): "
            "running %d",
            asked,
            data.get("name"),
            len(setup.samples),
            len(setup.samples),
        )


def _interrupted_code(interrupt: KeyboardInterrupt) -> int:
    return 143 if isinstance(interrupt, Terminated) else 130


def refuse_unknown_overrides(config_dir: Path, argv: Sequence[str]) -> None:
    """Refuses `key=value` for a key the composed config lacks (`method.K=0`) as any unknown key:
    one line naming the closest valid key, exit code 2. Hydra's own refusal comes over several
    lines with exit code 1 and advises `+method.K=0`, which the method would refuse next. The
    config is composed here once as `python run.py` would (a sweep's first values); anything
    else, and any command line with a flag other than -m, is left to Hydra."""
    if any(word.startswith("-") and word not in ("-m", "--multirun") for word in argv):
        return
    try:
        overrides = [_first_value(o) for o in OverridesParser.create().parse_overrides(
            [word for word in argv if not word.startswith("-")]
        )]  # fmt: skip
        with initialize_config_dir(str(config_dir.resolve()), version_base="1.3"):
            try:
                compose("config", overrides=[line for _, line in overrides])
                return
            except ConfigCompositionException as error:
                refused = re.match(r"Could not override '([^']+)'", str(error))
                if refused is None or not isinstance(
                    error.__cause__, (ConfigAttributeError, ConfigKeyError)
                ):
                    return
            key = refused.group(1)
            kept = [line for override, line in overrides if override.key_or_group != key]
            node = OmegaConf.select(compose("config", overrides=kept), key.rpartition(".")[0])
            target = node.get("_target_") if isinstance(node, DictConfig) else None
            takes = build.parameters(get_object(target)) if target is not None else []
    except Exception:  # whatever fails here, Hydra says it in its own words
        return
    if not isinstance(node, DictConfig) or takes is None or key.rpartition(".")[2] in takes:
        return  # an option its config leaves out (or **kwargs): Hydra's `+key=value` is right
    valid = [str(k) for k in node if not str(k).startswith("_")]
    print(f"error: {unknown_key(key, valid, target)}", file=sys.stderr)
    sys.exit(CONFIG_ERROR_EXIT)


def _first_value(override: Override) -> tuple[Override, str]:
    """(the override, its command-line text with a sweep's first value)."""
    if not override.is_sweep_override():
        return override, override.input_line
    first = next(iter(override.sweep_string_iterator()))
    return override, f"{override.get_key_element()}={first}"


def resume_command(hydra: DictConfig, run_dir: Path) -> str:
    """This process's command line with the run's folder (a sweep's folder for a multirun)."""
    if hydra.mode == RunMode.MULTIRUN:
        key, folder = "hydra.sweep.dir", Path(hydra.sweep.dir)
    else:
        key, folder = "hydra.run.dir", run_dir
    kept = [a for a in sys.argv[1:] if not a.lstrip("+").startswith(f"{key}=")]
    words = ["python", sys.argv[0], *kept, f"{key}={_shown(folder)}"]
    return " ".join(shlex.quote(word) for word in words)


def gather_command(sweep_dir: str | Path) -> str:
    """The command that gathers a sweep's jobs into one table (and the K trade-off figure)."""
    return f"python -m clustercam.bench.gather {shlex.quote(_shown(Path(sweep_dir)))}"


def _shown(folder: Path) -> str:
    """The folder relative to the working directory when inside it, else absolute."""
    folder = folder.resolve()
    try:
        return str(folder.relative_to(Path.cwd()))
    except ValueError:
        return str(folder)


def _fail(error: Exception, verbose: Any) -> NoReturn:
    """One line on stderr and exit code 2; the traceback only when asked for."""
    if verbose or os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
    sys.exit(CONFIG_ERROR_EXIT)


def _remove_if_new(run_dir: Path, hydra: DictConfig) -> None:
    """Removes the empty folders Hydra made for a refused config (a new sweep's folder too)."""
    run_dir = run_dir.resolve()
    if hydra.mode != RunMode.MULTIRUN:
        _remove_empty(run_dir, _EXISTED.get(run_dir, run_dir))
        return
    _remove_empty(run_dir, run_dir.parent)  # a job folder without files is Hydra's own
    sweep = Path(hydra.sweep.dir).resolve()
    existed = _EXISTED.get(sweep, sweep)
    if sweep != existed and {p.name for p in sweep.iterdir()} <= {"multirun.yaml"}:
        (sweep / "multirun.yaml").unlink(missing_ok=True)  # Hydra's record, nothing of ours
        _remove_empty(sweep, existed)


def _remove_empty(folder: Path, existed: Path) -> None:
    """Removes `folder` and its parents while empty, up to `existed` (which stays)."""
    while folder != existed and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _write_hydra_files(run_dir: Path, cfg: DictConfig, hydra: DictConfig) -> None:
    """.hydra/config.yaml, hydra.yaml and overrides.yaml, as Hydra writes them, once checked."""
    folder = run_dir / HYDRA_FILES
    folder.mkdir(exist_ok=True)
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    (folder / "hydra.yaml").write_text(OmegaConf.to_yaml({"hydra": hydra}))
    (folder / "overrides.yaml").write_text(OmegaConf.to_yaml(hydra.overrides.task))


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def interrupt(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
