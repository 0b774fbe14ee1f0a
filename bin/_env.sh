# Shared by bin/start and bin/test: find Python 3.11+, make .venv, install photopacs.
# Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

as_root() { [ "$(id -u)" = 0 ]; }

apt_install() {  # apt_install PACKAGE... (only as root; otherwise say what is missing)
  if as_root; then
    echo "photopacs: installing Debian packages: $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "photopacs: missing Debian packages: $* — run: sudo apt-get install $*" >&2
    return 1
  fi
}

pick_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

setup_venv() {  # setup_venv EXTRAS  (e.g. "" or "[test]")
  local py
  if ! py="$(pick_python)"; then
    apt_install python3 python3-venv python3-dev || true
    py="$(pick_python)" || { echo "photopacs: Python 3.11 or newer is required" >&2; exit 3; }
  fi
  if [ ! -x .venv/bin/python ]; then
    if ! "$py" -m venv .venv 2>/dev/null; then
      rm -rf .venv
      apt_install python3-venv || { echo "photopacs: python3-venv is required" >&2; exit 3; }
      "$py" -m venv .venv
    fi
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | { grep -v "WARNING: Location" || true; }
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$1" 2>&1 |
    { grep -v -e "WARNING: Location" || true; }
}
