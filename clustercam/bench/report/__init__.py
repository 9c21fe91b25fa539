"""Tables and figures of the Cluster-CAM comparison, rebuilt from run directories.

The top of the bench: only `scripts/make_report.py` imports it, because it needs matplotlib. It
reads the per-image rows through the one column schema (`clustercam.bench.columns`) and the one
statistics module (`clustercam.bench.stats`), as the run summaries do. The modules:
- `runs`: reads run and sweep directories (the runner's on-disk contract) into `Run` / `Job`;
- `published`: reference numbers from the papers and the protocol each one needs;
- `tables`: Tables 1-5 as data; `render`: Markdown, CSV and LaTeX of a table (pandas);
- `figures`: saliency grid, mean deletion/insertion curves, K trade-off;
- `frontier`: Table 8 and its figures, cost per image against quality with the Pareto front;
- `cli`: argument parsing and the order in which outputs are written.
"""
