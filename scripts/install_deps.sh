#!/usr/bin/env bash
# Installs the Debian packages dydx builds with, and any named as arguments, skipping those already present.
set -euo pipefail
# Extra packages a caller needs may be named as arguments (run_tests.sh: clang).
packages=(cmake ninja-build g++ libopenblas-dev libgtest-dev libbenchmark-dev libpng-dev "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
