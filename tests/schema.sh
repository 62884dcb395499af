#!/usr/bin/env bash
# `recsweep schema` checked with a standard validator (Python's jsonschema,
# Draft 7, as the YAML language server reads it): every shipped experiment
# and every spec `recsweep init` writes for the loader fixtures validates,
# and specs with an unknown key, an unknown param, a popularity method the
# model lacks or a value of the wrong type do not. Installs jsonschema and
# PyYAML into a cached virtual environment when python3 lacks them; where
# they cannot be installed it prints `SKIPPED: <reason>` and exits 0.
#
#   RECSWEEP_BIN=target/release/recsweep bash tests/schema.sh
source "$(dirname "$0")/kit.sh"
trap 'rm -rf "$work"' EXIT
if python3 -c "import jsonschema, yaml" 2>/dev/null; then
  python=python3
else
  venv="${RECSWEEP_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/recsweep-tests}/schema-venv"
  if ! "$venv/bin/python" -c "import jsonschema, yaml" 2>/dev/null; then
    (python3 -m venv "$venv" && "$venv/bin/pip" install -q jsonschema pyyaml) >"$work/pip.log" 2>&1 ||
      { rm -rf "$venv"; skip "cannot install jsonschema: $(tail -1 "$work/pip.log")"; }
  fi
  python="$venv/bin/python"
fi

"$bin" schema >"$work/schema.json" || fail "recsweep schema"
specs=("$root"/experiments/*.yaml)
for fixture in clicks.csv ratings.csv ratings.dat udata_layout.tsv semicolon_no_header.txt events.parquet; do
  out="$work/init-$fixture/spec.yaml"
  mkdir -p "$(dirname "$out")"
  "$bin" init "$root/tests/fixtures/$fixture" -o "$out" >/dev/null 2>&1 || fail "recsweep init $fixture"
  cmp -s "$work/schema.json" "$(dirname "$out")/recsweep.schema.json" ||
    fail "init wrote a schema beside $fixture's spec that differs from \`recsweep schema\`"
  specs+=("$out")
done

cat >"$work/unknown-top.yaml" <<'YAML'
name: x
datset: {source: synthetic}
models: [{model: ease}]
YAML
cat >"$work/unknown-param.yaml" <<'YAML'
name: x
dataset: {source: synthetic}
models: [{model: ease, params: {l2: 100, neighbours: 5}}]
YAML
cat >"$work/method-the-model-lacks.yaml" <<'YAML'
name: x
dataset: {source: synthetic}
models: [{model: two_tower, params: {popularity: {method: negatives, exponent: 1}}}]
YAML
cat >"$work/wrong-type.yaml" <<'YAML'
name: x
dataset: {source: synthetic}
evaluation: {cutoffs: ten}
models: [{model: most_pop}]
YAML

"$python" "$root/tests/schema_check.py" "$work/schema.json" "${specs[@]}" --must-fail \
  "$work/unknown-top.yaml" "$work/unknown-param.yaml" "$work/method-the-model-lacks.yaml" \
  "$work/wrong-type.yaml" || fail "see above"
