#!/usr/bin/env bash
# The committed embedded benchmark: EfficientNet-Lite0 on the 22 bundled photos, offline.
# Reruns every run folder under results/embedded/ (an existing folder resumes), then the report.
# About 75 minutes on 2 CPU cores; the timing columns differ from run to run, nothing else does.
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/embedded
# K sweep and Cluster-CAM variants: preset `fast` (28 deletion/insertion steps per curve).
python run.py experiment=k_sweep hydra.sweep.dir=$out/k_sweep
python run.py experiment=cluster_variants hydra.run.dir=$out/variants_fast
# Every method side by side: preset `fast` (reference points for the K plot) and preset `rise`.
python run.py experiment=compare_all hydra.run.dir=$out/compare_fast
python run.py experiment=compare_all metrics=rise save_maps=true hydra.run.dir=$out/compare_rise
python -m clustercam.bench.gather $out/k_sweep
python scripts/make_report.py $out/compare_rise $out/compare_fast $out/k_sweep $out/variants_fast \
    --out results
