"""Tables and figures from run directories and sweeps.

    python scripts/make_report.py RUN_OR_SWEEP_DIR [...] --out results/

See clustercam/bench/report/cli.py for what is written.
"""

from clustercam.bench.report.cli import main

if __name__ == "__main__":
    main()
