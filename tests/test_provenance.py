"""run.json's provenance: the commit of this checkout and the lock file's hash."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from v2f_bench.provenance import PROJECT_ROOT, code_version, machine


def test_the_record_names_this_checkouts_commit_and_hashes_its_lock_file():
    version = code_version()
    assert version["lock_sha256"] == hashlib.sha256((PROJECT_ROOT / "requirements.lock").read_bytes()).hexdigest()
    if shutil.which("git") is None or not (PROJECT_ROOT / ".git").exists():
        pytest.skip("not a git checkout: no commit to record")
    head = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert version["commit"] == head and isinstance(version["uncommitted_changes"], bool)


def test_a_runs_own_report_is_no_uncommitted_change_but_an_edit_of_the_code_is(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git not on PATH")

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, check=True)

    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "table1.md").write_text("committed\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "requirements.lock").write_text("torch==2.11.0\n")
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "start")
    (tmp_path / "reports" / "table1.md").write_text("written by the main command\n")
    assert code_version(tmp_path)["uncommitted_changes"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert code_version(tmp_path)["uncommitted_changes"] is True


def test_the_machine_record_names_what_decides_the_float_paths():
    record = machine()
    assert set(record) == {"cpu_model", "cpu_capability", "onednn", "onednn_max_cpu_isa", "cpu_bf16_instructions", "cuda_device"}
    assert record["cpu_model"] and record["cpu_capability"] in {"DEFAULT", "NO AVX", "AVX2", "AVX512", "ZVECTOR", "VSX", "SVE256"}
    assert record["cpu_bf16_instructions"] is None or set(record["cpu_bf16_instructions"]) <= {"avx512_bf16", "amx_bf16", "amx_tile"}
