"""Which code and environment produced a result: the git commit, the lock file and the CPU's float paths, for ``run.json``.

``code_version`` reads the checkout the package runs from (``git`` on PATH; a package installed without
its repository has no commit, recorded as None) and hashes ``requirements.lock`` beside it, so a
report names the exact code and package versions behind its numbers. Files under ``reports/`` do not
count as uncommitted changes: the main command writes its report there, over the committed one.

``machine`` names what decides the floating-point paths, and so the last digits, of the same code: the CPU
model, torch's CPU kernel capability (e.g. AVX2, AVX512), the oneDNN version and any ``ONEDNN_MAX_CPU_ISA``
cap, and the CPU's bfloat16 instructions (without them bf16 autocast runs emulated, slower and rounded
differently). Same code, seed and machine: the same digits; another machine: the same verdicts.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
from pathlib import Path

import torch

import v2f_bench

PROJECT_ROOT = Path(v2f_bench.__file__).resolve().parents[1]
LOCK_FILE = "requirements.lock"
OUTPUT_FOLDER = "reports"
"""Where the main command writes its report (over the committed one): not an uncommitted change of the code."""
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile")


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_version(root: Path = PROJECT_ROOT) -> dict:
    """The commit of checkout ``root`` (and whether tracked files outside ``reports/`` differ from it), the lock file's
    SHA-256, and the interpreter and torch versions."""
    root = Path(root).resolve()
    top = _git(root, "rev-parse", "--show-toplevel")
    ours = top is not None and Path(top).resolve() == root  # not some other repository the package sits in
    commit = _git(root, "rev-parse", "HEAD") if ours else None
    changes = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ".", f":(exclude){OUTPUT_FOLDER}") if ours else None
    lock = root / LOCK_FILE
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


def machine() -> dict:
    """What decides the floating-point paths of a run on this machine (see the module)."""
    onednn = re.search(r"MKL-DNN v([\d.]+)", torch.__config__.show())
    return {
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn": onednn.group(1) if onednn else None,
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "cpu_bf16_instructions": cpu_bf16_instructions(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_bf16_instructions() -> list[str] | None:
    """The CPU's bfloat16 instruction sets that /proc/cpuinfo lists (Linux); None where it cannot be read."""
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return None
    return [flag for flag in BF16_FLAGS if flag in words]
