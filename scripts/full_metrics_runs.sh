#!/usr/bin/env bash
# metrics=full on EfficientNet-Lite0's 22 bundled photos, Cluster-CAM and the methods of
# configs/experiment/full_metrics.yaml, on the CPU; then the report's tables and figures and each
# metric's cost over the forward floor (scripts/metric_costs.py).
# A probe on 2 photos runs first (its seconds, in /tmp, size the run). On a shared machine, queue
# it on the CPU lock: flock /tmp/cpu.lock nice -n 19 bash scripts/full_metrics_runs.sh
set -euo pipefail
export HF_HUB_OFFLINE=1
probe=$(mktemp -d)
python run.py experiment=full_metrics data.n_images=2 hydra.run.dir="$probe/run"
python -c "import pandas as pd, sys; s = pd.read_csv(sys.argv[1]); \
print(s[['method', 'seconds_mean', 'metric_seconds_mean']].to_string())" "$probe/run/summary.csv"
python run.py experiment=full_metrics hydra.run.dir=results/full_metrics/lite0
python scripts/make_report.py results/full_metrics/lite0 --out results/full_metrics
python scripts/metric_costs.py results/full_metrics/lite0 --out results/full_metrics/metric_costs.md
