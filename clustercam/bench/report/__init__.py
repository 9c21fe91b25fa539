"""Tables and figures of the Cluster-CAM comparison, rebuilt from run directories.

Lives under scripts/ on purpose: it needs matplotlib, which the core packages (clustercam/,
baselines/, metrics/) must not import. `scripts/make_report.py` is the entry point; the modules:
- `runs`: reads run and sweep directories (the runner's on-disk contract) into `Run` / `Job`;
- `stats`: mean and t-interval half-width, per-method summaries;
- `published`: reference numbers from the papers and the protocol each one needs;
- `tables`: Tables 1-5 as data; `render`: Markdown, CSV and LaTeX of a table;
- `figures`: saliency grid, mean deletion/insertion curves, K trade-off;
- `cli`: argument parsing and the order in which outputs are written.
"""
