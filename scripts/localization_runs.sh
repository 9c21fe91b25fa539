#!/bin/bash
# The committed localisation results (README: Localisation), each run holding /tmp/cpu.lock when
# that queue exists (shared machines); then Table 7 and fig7 into results/localization/.
#   bash scripts/localization_runs.sh
set -u
cd "$(dirname "$0")/.."
R=results/localization
lock() { if [ -e /tmp/cpu.lock ]; then flock /tmp/cpu.lock nice -n 19 "$@"; else nice -n 19 "$@"; fi; }
run() {
  echo "== $(date +%T) start $*"
  lock python run.py "$@" > "$R/$(echo "$*" | sed 's/.*hydra.run.dir=[^ ]*\///; s/ .*//').log" 2>&1
  echo "== $(date +%T) done rc=$? $*"
}
mkdir -p $R
run experiment=gridpg hydra.run.dir=$R/gridpg_lite0
run experiment=localization hydra.run.dir=$R/bundled_lite0
run experiment=gridpg model=efficientnet_lite1 hydra.run.dir=$R/gridpg_lite1
run experiment=gridpg model=efficientnet_lite2 hydra.run.dir=$R/gridpg_lite2
run experiment=localization model=efficientnet_lite1 hydra.run.dir=$R/bundled_lite1
run experiment=localization model=efficientnet_lite2 hydra.run.dir=$R/bundled_lite2
done_runs=$(for d in $R/*/; do [ -f "$d/summary.csv" ] && echo "$d"; done)
lock python scripts/make_report.py $done_runs --out $R/report
