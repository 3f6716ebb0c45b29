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
