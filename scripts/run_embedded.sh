#!/usr/bin/env bash
# The committed embedded benchmark: the 22 bundled photos, offline, on 2 CPU cores (about 100
# minutes). Reruns every run folder under results/embedded/ (an existing folder resumes), then the
# report. The timing columns differ from run to run, nothing else does.
#
# CPU budget, said plainly: on EfficientNet-Lite0 every method runs, RISE with 1,000 masks instead
# of 4,000 and SS-CAM with 4 noise samples per mask instead of 35 (35 would take ~5 min per photo);
# on Lite1 and Lite2 RISE and SS-CAM are left out (hours per model). Preset `fast` (28
# deletion/insertion steps per curve) throughout.
# A run folder refuses another config: after changing a default, delete the folders it affects.
# The comparisons run experiment=compare_classic, the methods before issue 23; its rivals
# (experiment=rivals) run in rivals_fast* beside them (compare_all is both).
# On a GPU, `python run.py experiment=compare_all metrics=rise model=...` runs the full protocol.
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/embedded
python run.py experiment=compare_classic methods.rise.n_masks=1000 methods.sscam.n_samples=4 save_maps=true \
    hydra.run.dir=$out/compare_fast
for model in efficientnet_lite1 efficientnet_lite2; do
    python run.py experiment=compare_classic model=$model '~methods.rise' '~methods.sscam' \
        save_maps=true hydra.run.dir=$out/compare_fast_${model#efficientnet_}
done
# Issue 23's rivals on 6 of the photos (data.n_images=6, seed 0): at 2 shared CPU cores Opti-CAM's
# 101 passes take minutes per photo. HiResCAM and XGrad-CAM are left out (at bn2 their maps are
# Grad-CAM's, docs/rivals.md), Opti-CAM on Lite1 and Lite2 too.
rivals=(experiment=rivals data.n_images=6 '~methods.hirescam' '~methods.xgradcam')
python run.py "${rivals[@]}" hydra.run.dir=$out/rivals_fast
for model in efficientnet_lite1 efficientnet_lite2; do
    python run.py "${rivals[@]}" '~methods.opticam' model=$model \
        hydra.run.dir=$out/rivals_fast_${model#efficientnet_}
done
# Cluster-CAM's variants and K sweep (Lite0).
python run.py experiment=cluster_variants hydra.run.dir=$out/variants_fast
python run.py experiment=k_sweep hydra.sweep.dir=$out/k_sweep
python -m clustercam.bench.gather $out/k_sweep
python scripts/make_report.py $out/compare_fast $out/compare_fast_lite1 $out/compare_fast_lite2 \
    $out/k_sweep $out/variants_fast --out results
# The cost-quality frontier (Table 8, fig8_*) with the rivals, apart so the names above stay.
python scripts/make_report.py $out/compare_fast $out/rivals_fast $out/compare_fast_lite1 \
    $out/rivals_fast_lite1 $out/compare_fast_lite2 $out/rivals_fast_lite2 $out/k_sweep \
    --out results/frontier
python scripts/sanity_inverse.py $out/compare_fast --preset fast
