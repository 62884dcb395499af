# The start every script that tests recsweep against a real outside system
# shares (slurm.sh, mlflow.sh, schema.sh): the repository root, the binary
# under test (RECSWEEP_BIN), a work folder, and the two endings. `skip`
# passes with its reason where the system cannot be had; `fail` prints the
# work folder's logs and exits 1. Each script sets its own EXIT trap, which
# must remove "$work". Sourced, not run.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(realpath "${RECSWEEP_BIN:-$root/target/release/recsweep}")
if [ ! -x "$bin" ]; then
  echo "FAILED: no recsweep binary at $bin (build it, or set RECSWEEP_BIN)"
  exit 1
fi
work=$(mktemp -d)
skip() {
  echo "SKIPPED: $*"
  exit 0
}
fail() {
  echo "FAILED: $*"
  for log in "$work"/*.log; do
    [ -f "$log" ] && { echo "--- $log"; tail -20 "$log"; }
  done
  exit 1
}
