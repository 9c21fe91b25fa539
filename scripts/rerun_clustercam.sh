#!/usr/bin/env bash
# After a change to Cluster-CAM alone: every committed result that holds Cluster-CAM, rerun
# without redoing the other methods (2 CPU cores: about 30 minutes, most of it the grid photos).
#
# In each embedded comparison run, Cluster-CAM's records are forgotten, and so are every method's
# records of the saliency grid's photos (the first 6; other maps are not committed, and the grid
# needs them); resuming the run explains exactly those again. The variants and the K sweep hold
# Cluster-CAM only and are run anew. Then the report and the sanity check of Cluster-CAM's maps.
# The default choice and Table 6 are separate: scripts/choose_default.py, scripts/stability.py.
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/embedded
grid="chelsea coffee rocket motorcycle china grace_hopper"
for run in compare_fast compare_fast_lite1 compare_fast_lite2; do
    python -m clustercam.bench.forget $out/$run --method clustercam
    # shellcheck disable=SC2086
    python -m clustercam.bench.forget $out/$run --image $grid
done
python run.py experiment=compare_classic methods.rise.n_masks=1000 methods.sscam.n_samples=4 save_maps=true \
    hydra.run.dir=$out/compare_fast
for model in efficientnet_lite1 efficientnet_lite2; do
    python run.py experiment=compare_classic model=$model '~methods.rise' '~methods.sscam' \
        save_maps=true hydra.run.dir=$out/compare_fast_${model#efficientnet_}
done
rm -rf $out/variants_fast $out/k_sweep
python run.py experiment=cluster_variants hydra.run.dir=$out/variants_fast
python run.py experiment=k_sweep hydra.sweep.dir=$out/k_sweep
python -m clustercam.bench.gather $out/k_sweep
python scripts/make_report.py $out/compare_fast $out/compare_fast_lite1 $out/compare_fast_lite2 \
    $out/k_sweep $out/variants_fast --out results
python scripts/sanity_inverse.py $out/compare_fast --preset fast --methods clustercam
