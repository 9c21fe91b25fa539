"""Tables and figures from run directories and sweeps.

    python scripts/make_report.py RUN_OR_SWEEP_DIR [...] --out results/

See scripts/report/cli.py for what is written; the logic lives in the `report` package beside this
file, which Python finds because it puts this script's folder on sys.path.
"""

from report.cli import main

if __name__ == "__main__":
    main()
