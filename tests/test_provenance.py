"""run.json's provenance: the commit of this checkout and the lock file's hash."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from v2f_bench.provenance import PROJECT_ROOT, code_version


def test_the_record_names_this_checkouts_commit_and_hashes_its_lock_file():
    version = code_version()
    assert version["lock_sha256"] == hashlib.sha256((PROJECT_ROOT / "requirements.lock").read_bytes()).hexdigest()
    if shutil.which("git") is None or not (PROJECT_ROOT / ".git").exists():
        pytest.skip("not a git checkout: no commit to record")
    head = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert version["commit"] == head and isinstance(version["uncommitted_changes"], bool)
