#!/usr/bin/env bash
# Makes .venv (Python 3.11) hold exactly requirements.lock, installs v2f_bench into it (editable),
# then checks that every locked version is installed and every compiled part loads.
# uv installs the lock (a cold install: uv 18 s, pip 131 s; README, "The locked environment");
# the venv's own pip only bootstraps uv, from uv's hashes in the lock. Every package goes in with
# --no-deps: the lock is complete, and facenet-pytorch's stale metadata pins are never resolved.
set -euo pipefail
cd "$(dirname "$0")"
LOCK=requirements.lock
if [ ! -x .venv/bin/python ]; then
    command -v python3.11 >/dev/null || { echo "install.sh: python3.11 not found; $LOCK is for CPython 3.11" >&2; exit 1; }
    python3.11 -m venv .venv
fi
uv_pin=$(grep -m1 '^uv==' "$LOCK" | cut -d' ' -f1)
if [ "$(.venv/bin/python -m uv --version 2>/dev/null | cut -d' ' -f2)" != "${uv_pin#uv==}" ]; then
    awk '/^uv==/{p=1; print; next} p && /^ /{print; next} {p=0}' "$LOCK" > .venv/uv-requirement.txt
    .venv/bin/python -m pip install --quiet --no-deps --require-hashes -r .venv/uv-requirement.txt
fi
.venv/bin/python -m uv pip sync --quiet --python .venv/bin/python --require-hashes --compile-bytecode "$LOCK"
.venv/bin/python -m uv pip install --quiet --python .venv/bin/python --no-deps --no-build-isolation -e .
# Bytecode written once here: where PYTHONDONTWRITEBYTECODE is set (this project's machines set it), Python
# never caches it, and every process, each Ray worker included, would compile its imports from source again
# (`import ray.tune` 4.8 s -> 1.8 s, torch + v2f_bench 4.3 s -> 2.3 s, measured on 2 cores).
.venv/bin/python -m compileall -q -j 0 v2f_bench benchmarks > /dev/null
.venv/bin/python -m v2f_bench.install_check "$LOCK"
# The report's HTML check uses Debian's headless Chromium; install it when this is a root shell with apt
# (CI, containers). Elsewhere the browser tests skip and say why.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "install.sh: could not install chromium; the browser check will be skipped" >&2
fi
