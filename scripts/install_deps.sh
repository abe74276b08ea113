#!/usr/bin/env bash
# Installs the Debian packages dydx builds with, and any named as arguments, skipping those already present.
set -euo pipefail
# Extra packages a caller needs may be named as arguments (run_tests.sh: clang and its sanitizer runtimes).
packages=(cmake ninja-build g++ libopenblas-dev libgtest-dev libbenchmark-dev nlohmann-json3-dev libpng-dev python3-venv "$@")
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

# Python's safetensors and numpy in the repository's .venv, for the test that reads a dydx-written
# file with the reference reader (tests/CMakeLists.txt finds .venv). Skipped when already there;
# without network the test is simply not run, so a failure here only warns.
venv=$(cd "$(dirname "$0")/.." && pwd)/.venv
if ! "$venv/bin/python" -c "import safetensors, numpy" 2>/dev/null; then
  if python3 -m venv "$venv" && "$venv/bin/pip" install -q safetensors numpy; then
    echo "installed safetensors and numpy in $venv"
  else
    echo "warning: could not install safetensors in $venv; safetensors_read_by_python will not run" >&2
  fi
fi
