"""Files that installed packages ship (pretrained weights), located without importing the package.

Some packages that carry weights run code on import that no longer works on our locked versions
(face-recognition-models imports ``pkg_resources``, which setuptools >= 81 removed), and importing
them is not needed to read a file. ``importlib.util.find_spec`` finds the package folder without
executing it. Nothing is ever downloaded: a missing file is a one-line ``UserError``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from v2f_bench.errors import UserError


def package_file(package: str, relative: str, lock_name: str) -> Path:
    """``relative`` inside the installed ``package`` folder; ``lock_name`` is the distribution to install."""
    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / relative
        if path.is_file():
            return path
    where = f"in {folders[0]}" if folders else f"(package {package!r} is not installed)"
    raise UserError(f"{relative} not found {where}: run ./install.sh to install {lock_name} as locked in requirements.lock")
