#!/usr/bin/env bash
# Installs everything midas needs on a Debian/Ubuntu machine into ./.venv:
#   system packages (compiler, NLopt, Python headers/venv) through apt-get, then `pip install .`
#   `--test` also installs the test extras (pytest, hypothesis, ...).
# Safe to run again: steps that are already done are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=""
for arg in "$@"; do
  case "$arg" in
    --test) EXTRAS="[test]" ;;
    --bench) EXTRAS="[test,bench]" ;;
    *) echo "setup.sh: unknown option $arg (use --test or --bench)" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
need=()
command -v g++ >/dev/null 2>&1 || need+=(g++)
if ! { [ -f /usr/include/nlopt.h ] || [ -f /usr/local/include/nlopt.h ]; }; then need+=(libnlopt-cxx-dev); fi
"$PY" -c 'import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' \
  || need+=(python3-dev)
"$PY" -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
"$PY" -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup.sh: installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
echo "setup.sh: building and installing midas (C++/OpenMP core; CUDA kernels where nvcc exists)..."
.venv/bin/python -m pip install -q ".${EXTRAS}"
.venv/bin/midas info
