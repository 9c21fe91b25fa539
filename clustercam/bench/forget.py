"""Forget records in a run folder, so that resuming the run explains those alone again.

    python -m clustercam.bench.forget RUN_DIR --method clustercam     # one method, every image
    python -m clustercam.bench.forget RUN_DIR --image dog cat         # every method, two images

After a fix to one method, this reruns that method on every image of a finished run without
redoing the others (their rows, curves and maps stay). The resumed run puts its files back in
data-set order, so they read as if the run had never stopped.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import yaml

from clustercam.bench.run_folder import forget


def rerun_command(run_dir: Path) -> str:
    """`python run.py` with the run's own overrides (from .hydra/) and its folder."""
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else []
    words = ["python", "run.py", *overrides, f"hydra.run.dir={run_dir}"]
    return " ".join(shlex.quote(word) for word in words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run folder (holds per_image.csv)")
    parser.add_argument("--method", nargs="+", help="method names as in per_image.csv (all)")
    parser.add_argument("--image", nargs="+", help="image ids as in per_image.csv (all)")
    args = parser.parse_args()
    if not args.method and not args.image:
        parser.error("say what to forget: --method, --image or both")
    try:
        removed = forget(args.run_dir, args.method, args.image)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    print(f"forgot {removed} rows in {args.run_dir}")
    print(f"explain them again with: {rerun_command(args.run_dir)}")


if __name__ == "__main__":
    main()
