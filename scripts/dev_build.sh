#!/usr/bin/env bash
# Developer build: compiles midas._core (and midas._cuda where nvcc exists) in place into
# python/midas, so `PYTHONPATH=python pytest` runs against the working tree.
# Builds are serialised machine-wide with a lock: concurrent builds on 2 cores only thrash.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${MIDAS_BUILD_DIR:-build/dev}
exec 9>/tmp/midas-build.lock
flock 9
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DMIDAS_INPLACE=ON -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_EXPORT_COMPILE_COMMANDS=ON ${MIDAS_CMAKE_ARGS:-} >/dev/null
fi
cmake --build "$BUILD_DIR" -j "${MIDAS_BUILD_JOBS:-2}"
