#!/usr/bin/env bash
# Creates .venv (if missing) and installs v2f_bench with its pinned dependencies and the test tools.
# facenet-pytorch goes in with --no-deps: its metadata pins torch<2.3, but its code runs on torch 2.11.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/python -m pip install --quiet --no-deps facenet-pytorch==2.6.0
# The report's HTML check uses Debian's headless Chromium; install it when this is a root shell with apt
# (CI, containers). Elsewhere the browser tests skip and say why.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "install.sh: could not install chromium; the browser check will be skipped" >&2
fi
