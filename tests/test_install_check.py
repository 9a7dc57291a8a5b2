"""The installed environment is the lock: drift, the compiled parts, `pip check`, and the lock itself."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from v2f_bench import install_check

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"

PIP_CHECK_ALLOWED = {"facenet-pytorch": None, "resemblyzer": {"typing", "webrtcvad"}}
"""The packages whose `pip check` complaints are expected, with the requirements they may name (None: any).
facenet-pytorch 2.6.0's metadata pins torch<2.3, torchvision<0.18, numpy<2 and Pillow<10.3, while its
code runs on the locked versions (it is locked with those pins overridden and installed with --no-deps).
resemblyzer 0.1.4 asks for the typing backport and webrtcvad, both dropped while locking
(requirements/overrides.txt); webrtcvad-wheels provides the webrtcvad module."""


def test_installed_environment_matches_the_lock():
    """Fails on a manual upgrade, a missing package or one installed beside the lock."""
    problems = install_check.drift(install_check.read_lock(LOCK), install_check.installed_versions())
    assert problems == [], "\n".join(problems)


def test_rays_vendored_packages_are_not_taken_for_installed_ones():
    """Importing Ray puts ray/thirdparty_files (psutil, colorama with dist-info) on sys.path."""
    import ray  # noqa: F401

    assert not {"psutil", "colorama"} & set(install_check.installed_versions()) - set(install_check.read_lock(LOCK))


def test_every_compiled_part_loads():
    problems = install_check.load_problems()
    assert problems == [], "\n".join(problems)


def _allowed(complaint: str) -> bool:
    words = complaint.split()
    if canonicalize_name(words[0]) not in PIP_CHECK_ALLOWED:
        return False
    names = PIP_CHECK_ALLOWED[canonicalize_name(words[0])]
    required = canonicalize_name(words[3].rstrip(",")) if len(words) > 3 and words[2] in ("requires", "has") else ""
    return names is None or required in names


def test_pip_check_is_clean_but_for_the_known_stale_metadata():
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True).stdout
    complaints = [line for line in out.splitlines() if line.strip() and not line.startswith("No broken requirements")]
    others = [line for line in complaints if not _allowed(line)]
    assert others == [], "\n".join(others)


def _pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]


def test_lock_satisfies_every_range_in_pyproject():
    """A range changed in pyproject.toml without regenerating the lock fails here."""
    locked = install_check.read_lock(LOCK)
    for requirement in _pyproject_requirements():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is in pyproject.toml but not in the lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), f"lock has {name}=={locked[name]}, pyproject asks {requirement}"


def test_torch_triple_is_pinned_exactly_and_locked_as_pinned():
    pins = {canonicalize_name(r.name): str(r.specifier) for r in _pyproject_requirements()}
    locked = install_check.read_lock(LOCK)
    for name in ("torch", "torchvision", "torchaudio"):
        assert pins[name].startswith("=="), f"{name} must be pinned exactly, not {pins[name]}"
        assert f"=={locked[name]}" == pins[name]


def test_lock_holds_facenet_pytorch_and_the_installer():
    locked = install_check.read_lock(LOCK)
    assert locked["facenet-pytorch"] == "2.6.0"
    assert "uv" in locked and "setuptools" in locked


@pytest.mark.parametrize(
    ("installed", "expected"),
    [
        pytest.param({"torch": "2.11.0+cu130", "numpy": "2.4.6"}, [], id="local-label-matches"),
        pytest.param({"torch": "2.11.1", "numpy": "2.4.6"}, ["torch: installed 2.11.1, the lock has 2.11.0"], id="upgraded"),
        pytest.param({"torch": "2.11.0"}, ["numpy: not installed, the lock has 2.4.6"], id="missing"),
        pytest.param(
            {"torch": "2.11.0", "numpy": "2.4.6", "rich": "14.0", "pip": "23.2.1", "v2f-bench": "0.1.0"},
            ["rich: installed 14.0, not in the lock"],
            id="extra-package-but-pip-and-project-allowed",
        ),
    ],
)
def test_drift_names_each_difference(installed, expected):
    assert install_check.drift({"torch": "2.11.0", "numpy": "2.4.6"}, installed) == expected


def test_read_lock_skips_hashes_and_comments(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("# header\nTorch_Audio==2.11.0 \\\n    --hash=sha256:abc \\\n    # via x\nray[tune]==2.60.0\n")
    assert install_check.read_lock(lock) == {"torch-audio": "2.11.0"}


def test_read_lock_without_pins_is_an_error(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("# nothing\n")
    with pytest.raises(ValueError, match="no 'name==version' lines"):
        install_check.read_lock(lock)


def test_a_probe_that_cannot_load_is_one_line_with_the_root_cause():
    def broken_extension():
        try:
            raise OSError("libtorchaudio.so: undefined symbol: torch_exception_get_what_without_backtrace")
        except OSError as cause:
            raise OSError("Could not load this library: libtorchaudio.so") from cause

    problems = install_check.load_problems({"torchaudio": broken_extension, "fine": lambda: None})
    assert problems == ["torchaudio: does not load (OSError: libtorchaudio.so: undefined symbol: torch_exception_get_what_without_backtrace)"]


def test_check_against_a_lock_with_another_torchaudio_fails_naming_it(tmp_path):
    """The command install.sh runs: exit 1 and one line per problem, naming the package."""
    lock = tmp_path / "requirements.lock"
    lock.write_text(LOCK.read_text().replace("\ntorchaudio==2.11.0 ", "\ntorchaudio==2.11.1 "))
    done = subprocess.run([sys.executable, "-m", "v2f_bench.install_check", str(lock)], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["install check: torchaudio: installed 2.11.0, the lock has 2.11.1; run ./install.sh to restore requirements.lock"]


def test_check_passes_on_the_lock(tmp_path):
    done = subprocess.run([sys.executable, "-m", "v2f_bench.install_check", str(LOCK)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "packages as locked" in done.stdout


def test_check_of_a_missing_lock_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "v2f_bench.install_check", str(tmp_path / "nope.lock")], capture_output=True, text=True)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and "nope.lock" in done.stderr
