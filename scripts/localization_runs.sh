#!/bin/bash
# The committed localisation results (README: Localisation), then Table 7 and fig7 into
# results/localization/report. Sized for 2 CPU cores: Score-CAM (a forward pass per non-constant
# channel, ~1,000 per grid) on Lite0's bundled photos only; GridPG: 200 grids per model.
# Re-runnable: each run resumes its folder.
#   bash scripts/localization_runs.sh
set -u
cd "$(dirname "$0")/.."
R=results/localization
run() {
  local dir=$1; shift
  echo "== $(date +%T) start $dir: $*"
  python run.py "$@" hydra.run.dir="$R/$dir" > "$R/$dir.log" 2>&1
  echo "== $(date +%T) done $dir rc=$?"
}
mkdir -p $R
run bundled_lite0 experiment=localization
run bundled_lite1 experiment=localization model=efficientnet_lite1 '~methods.scorecam'
run bundled_lite2 experiment=localization model=efficientnet_lite2 '~methods.scorecam'
for model in lite0 lite1 lite2; do
  run gridpg_$model experiment=gridpg model=efficientnet_$model
done
done_runs=$(for d in $R/*/; do [ -f "$d/summary.csv" ] && echo "$d"; done)
python scripts/make_report.py $done_runs --out $R/report
