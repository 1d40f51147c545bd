#!/usr/bin/env bash
# Installs scanner-hf for development into .venv, every version from the constraints file given with -c
# (requirements/lock.txt) and the data packages from requirements/data-packages.txt. The README's commands and .ci/run call it.
# uv reads the same lock as pip and installs in about 20 s where pip takes about 115 s (no cache,
# measured side by side; CONTRIBUTING.md). torch is the CPU build from this machine's disk
# (PIP_FIND_LINKS, /opt/wheels here); elsewhere add PyTorch's CPU index (CONTRIBUTING.md).
#   bash requirements/install.sh -c requirements/lock.txt
set -euo pipefail
[ "${1:-}" = "-c" ] && [ -n "${2:-}" ] || { echo "usage: bash requirements/install.sh -c CONSTRAINTS_FILE (requirements/lock.txt)" >&2; exit 2; }
lock="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
cd "$(dirname "$0")/.."
wheels="${PIP_FIND_LINKS:-/opt/wheels}"
find_links=()
[ -d "$wheels" ] && find_links=(--find-links "$wheels")
python -m venv .venv
.venv/bin/pip install -q -c "$lock" uv
.venv/bin/uv pip install -q --python .venv/bin/python "${find_links[@]}" -c "$lock" -e ".[dev]"
.venv/bin/uv pip install -q --python .venv/bin/python --no-deps -r requirements/data-packages.txt
