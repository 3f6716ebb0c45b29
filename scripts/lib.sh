# Shared by the scripts: make sure the project's virtual environment exists and is up to date.
# Sourced, not run. Installs from pyproject.toml only, so a fresh clone needs nothing else.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
PYTHON="$VENV/bin/python"

# ensure_venv EXTRAS: (re)install when pyproject.toml changed or other extras are asked for.
ensure_venv() {
  local extras="$1"
  local stamp="$VENV/.hookstream-installed"
  local want
  want="$extras $(sha256sum "$REPO_ROOT/pyproject.toml" | cut -c1-16)"
  if [ ! -x "$PYTHON" ]; then
    echo "creating $VENV (python3.11)..." >&2
    "$(command -v python3.11 || command -v python3)" -m venv "$VENV"
  fi
  # A stamp for the full dev set covers every smaller set; 'local,infra' (scripts/deploy-tools) covers 'local'.
  local have=""
  [ -f "$stamp" ] && have="$(cat "$stamp")"
  if [ "$have" = "$want" ] || [ "$have" = "dev ${want#* }" ] \
     || { [ "$extras" = local ] && [ "$have" = "local,infra ${want#* }" ]; }; then
    return 0
  fi
  echo "installing hookstream[$extras] into .venv (first run takes a minute or two)..." >&2
  # pip's output goes to a log: this machine's pip config adds a warning per package that hides real errors.
  if ! "$PYTHON" -m pip install --quiet --disable-pip-version-check -e "$REPO_ROOT[$extras]" > "$VENV/pip.log" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$VENV/pip.log" | tail -40 >&2
    echo "pip install failed; full log: $VENV/pip.log" >&2
    return 1
  fi
  echo "$want" > "$stamp"
}

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20

# checkov gets a virtual environment of its own: checkov 3.3.30 pins packaging<24 and boto3==1.35.49,
# while google-cloud-bigquery needs packaging>=24.2 and the backfill pins boto3 1.44.8, so pip cannot
# install it next to the project. Its pin lives in pyproject.toml, [dependency-groups] checkov.
CHECKOV_VENV="$REPO_ROOT/.venv-checkov"
CHECKOV="$CHECKOV_VENV/bin/checkov"

ensure_checkov_venv() {
  local stamp="$CHECKOV_VENV/.hookstream-installed"
  local requirements
  requirements="$("$(command -v python3.11 || command -v python3)" -c '
import sys, tomllib
print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["dependency-groups"]["checkov"]))' "$REPO_ROOT/pyproject.toml")"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$requirements" ] && [ -x "$CHECKOV" ]; then
    return 0
  fi
  if [ ! -x "$CHECKOV_VENV/bin/python" ]; then
    echo "creating $CHECKOV_VENV for checkov..." >&2
    "$(command -v python3.11 || command -v python3)" -m venv "$CHECKOV_VENV"
  fi
  echo "installing $(echo "$requirements" | tr '\n' ' ')into .venv-checkov..." >&2
  # shellcheck disable=SC2086  # one requirement per line, none with spaces
  if ! "$CHECKOV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check $requirements \
      > "$CHECKOV_VENV/pip.log" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$CHECKOV_VENV/pip.log" | tail -40 >&2
    echo "pip install of checkov failed; full log: $CHECKOV_VENV/pip.log" >&2
    return 1
  fi
  echo "$requirements" > "$stamp"
}

# What the Cloud Run image installs (`pip install .`: the base dependencies only, no extras), for measuring
# the service as deployed: the local extras add optional packages (bigquery-storage, pyarrow, numpy) that
# google-cloud-bigquery imports when present, ~0.3 s of every cold start that the image never pays.
# Installed editable, so the service code is the work tree's.
IMAGE_VENV="$REPO_ROOT/.venv-image"

ensure_image_venv() {
  ensure_side_venv "$IMAGE_VENV" "the image's packages" -e "$REPO_ROOT"
}

# ensure_side_venv DIR WHAT PIP_ARGS...: a virtual environment of its own at DIR, (re)installed with
# `pip install PIP_ARGS` when pyproject.toml changed since its last install.
ensure_side_venv() {
  local venv="$1" what="$2"
  shift 2
  local stamp="$venv/.hookstream-installed"
  local want
  want="$(sha256sum "$REPO_ROOT/pyproject.toml" | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
    return 0
  fi
  if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv ($what)..." >&2
    "$(command -v python3.11 || command -v python3)" -m venv "$venv"
  fi
  echo "installing $* into $(basename "$venv")..." >&2
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" > "$venv/pip.log" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$venv/pip.log" | tail -40 >&2
    echo "pip install into $venv failed; full log: $venv/pip.log" >&2
    return 1
  fi
  echo "$want" > "$stamp"
}

# CDK Terrain (HOOKSTREAM_ENGINE=terrain) gets a virtual environment of its own: its bindings need
# constructs >= 10.6 while cdktf's `infra` extra pins 10.4.2, so pip cannot install both in .venv.
# It holds hookstream[infra-terrain] plus [dependency-groups] terrain-tests (scripts/test runs the synth
# tests in it). ~1 minute and ~600 MB on first run.
TERRAIN_VENV="$REPO_ROOT/.venv-terrain"
TERRAIN_PYTHON="$TERRAIN_VENV/bin/python"

ensure_terrain_venv() {
  local tests
  tests="$("$(command -v python3.11 || command -v python3)" -c '
import sys, tomllib
print(" ".join(tomllib.load(open(sys.argv[1], "rb"))["dependency-groups"]["terrain-tests"]))' "$REPO_ROOT/pyproject.toml")"
  # shellcheck disable=SC2086  # requirements without spaces
  ensure_side_venv "$TERRAIN_VENV" "CDK Terrain" -e "$REPO_ROOT[infra-terrain]" $tests
}

# The Python of the engine HOOKSTREAM_ENGINE names (infra/engine/setting.py): .venv for cdktf (the default),
# .venv-terrain for CDK Terrain. Sets PYTHON; scripts/review and scripts/synth-bench use it.
use_engine_python() {
  case "${HOOKSTREAM_ENGINE:-cdktf}" in
    cdktf) ensure_venv "$1" ;;
    terrain) ensure_terrain_venv; PYTHON="$TERRAIN_PYTHON" ;;
    *) echo "HOOKSTREAM_ENGINE='$HOOKSTREAM_ENGINE' is not an engine; use cdktf or terrain" >&2; return 1 ;;
  esac
}
