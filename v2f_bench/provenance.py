"""Which code and environment produced a result: the git commit and the lock file, for ``run.json``.

``code_version`` reads the checkout the package runs from (``git`` on PATH; a package installed without
its repository has no commit, recorded as None) and hashes ``requirements.lock`` beside it, so a
report names the exact code and package versions behind its numbers.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from pathlib import Path

import torch

import v2f_bench

PROJECT_ROOT = Path(v2f_bench.__file__).resolve().parents[1]
LOCK_FILE = "requirements.lock"


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_version() -> dict:
    """The commit (and whether tracked files differ from it), the lock file's SHA-256, and the interpreter and torch versions."""
    top = _git("rev-parse", "--show-toplevel")
    ours = top is not None and Path(top).resolve() == PROJECT_ROOT  # not some other repository the package sits in
    commit = _git("rev-parse", "HEAD") if ours else None
    changes = _git("status", "--porcelain", "--untracked-files=no") if ours else None
    lock = PROJECT_ROOT / LOCK_FILE
    return {
        "version": v2f_bench.__version__,
        "commit": commit,
        "uncommitted_changes": None if changes is None else bool(changes),
        "lock_file": LOCK_FILE if lock.is_file() else None,
        "lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
