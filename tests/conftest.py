"""Shared fixtures: a tiny synthetic dataset made once per session, and a private Ray instance."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from v2f_bench.data.synth import SMALL, SynthConfig, write_synth

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
"""The real VoxCeleb meta files, present beside the repository on developer machines and in CI."""


@pytest.fixture(scope="session")
def small_raw(tmp_path_factory) -> Path:
    """A read-only-by-convention tiny synthetic data root (4 identities, 5 clips and 16 photos each)."""
    root = tmp_path_factory.mktemp("synth") / "raw"
    write_synth(root, SynthConfig(**SMALL))
    return root


@pytest.fixture
def raw_copy(small_raw, tmp_path) -> Path:
    """A private copy of the tiny dataset that a test may damage."""
    return Path(shutil.copytree(small_raw, tmp_path / "raw"))


@pytest.fixture
def ray_local():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()
