"""Forget one method's records in a run folder, so that resuming the run explains it alone again.

    python -m clustercam.bench.forget RUN_DIR METHOD [METHOD ...]

After a fix to one method, this reruns that method on every image of a finished run without
redoing the others (their rows, curves and maps stay). The resumed run puts its files back in
data-set order, so they read as if the run had never stopped.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import yaml

from clustercam.bench.records import forget


def rerun_command(run_dir: Path) -> str:
    """`python run.py` with the run's own overrides (from .hydra/) and its folder."""
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else []
    words = ["python", "run.py", *overrides, f"hydra.run.dir={run_dir}"]
    return " ".join(shlex.quote(word) for word in words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run folder (holds per_image.csv)")
    parser.add_argument("methods", nargs="+", help="method names as in per_image.csv")
    args = parser.parse_args()
    try:
        removed = forget(args.run_dir, args.methods)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    print(f"forgot {removed} rows of {', '.join(args.methods)} in {args.run_dir}")
    print(f"explain them again with: {rerun_command(args.run_dir)}")


if __name__ == "__main__":
    main()
