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
  local stamp="$IMAGE_VENV/.hookstream-installed"
  local want
  want="$(sha256sum "$REPO_ROOT/pyproject.toml" | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$IMAGE_VENV/bin/python" ]; then
    return 0
  fi
  if [ ! -x "$IMAGE_VENV/bin/python" ]; then
    echo "creating $IMAGE_VENV (the image's packages)..." >&2
    "$(command -v python3.11 || command -v python3)" -m venv "$IMAGE_VENV"
  fi
  echo "installing hookstream (no extras, as the image) into .venv-image..." >&2
  if ! "$IMAGE_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$REPO_ROOT" \
      > "$IMAGE_VENV/pip.log" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$IMAGE_VENV/pip.log" | tail -40 >&2
    echo "pip install failed; full log: $IMAGE_VENV/pip.log" >&2
    return 1
  fi
  echo "$want" > "$stamp"
}
