"""The benchmark suite (benchmarks/): its memory probes, its Markdown, and a quick run writing the file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks import memory
from benchmarks.results import Row, Section, section_markdown, summary_table

ROOT = Path(__file__).resolve().parents[1]
linux_proc = pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="needs Linux /proc/PID/smaps_rollup")


@linux_proc
def test_uss_grows_by_what_this_process_allocates_and_touches():
    before = memory.uss()
    block = np.ones(64 * 2**20, dtype=np.uint8)
    grown = memory.uss() - before
    assert 60 * 2**20 <= grown <= 80 * 2**20, grown
    del block


@linux_proc
def test_the_process_tree_includes_children_and_their_memory():
    child = subprocess.Popen([sys.executable, "-c", "import time, numpy; a = numpy.ones(2**26, dtype=numpy.uint8); time.sleep(30)"])
    try:
        for _ in range(100):
            if (memory.smaps_rollup(child.pid) or {}).get("Pss_Anon", 0) > 60 * 2**20:
                break
            time.sleep(0.1)
        assert child.pid in memory.tree(os.getpid())
        child_memory = memory.tree_resident(child.pid)
        assert child_memory > 60 * 2**20
        own_anonymous = memory.smaps_rollup(os.getpid())["Pss_Anon"]
        assert memory.tree_resident(os.getpid()) >= child_memory + 0.9 * own_anonymous
    finally:
        child.kill()
        child.wait()


def test_a_section_renders_its_rows_ratios_goal_verdict_and_notes():
    section = Section("Metrics", "what was timed", [Row("loop", 100.0, "images/s"), Row("batched", 450.0, "images/s", 4.5)],
                      goal="batched >= 3x", met=True, notes=["why it is faster"], seconds=12.3)
    text = section_markdown(section)
    assert "## Metrics" in text and "| loop | 100 images/s | baseline |" in text and "| batched | 450 images/s | 4.50 |" in text
    assert "Goal: batched >= 3x — met." in text and "- why it is faster" in text
    missed = Section("Training", "m", [Row("x", 1.0, "steps/s")], goal="1.5x", met=False)
    assert "**not met**" in section_markdown(missed)
    assert "| Training | 1.5x | no |" in summary_table([missed])


@pytest.mark.slow
def test_the_quick_suite_writes_the_markdown_file_with_each_chosen_section(tmp_path):
    out = tmp_path / "benchmarks.md"
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "metrics,train", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    text = out.read_text()
    assert text.startswith("# v2f_bench benchmarks") and "Machine:" in text
    assert "## Metrics: batched Table II vs per-image scikit-image" in text and "## Training: steps/s" in text
    assert text.count("| baseline |") == 1 + 3 and "x baseline" in text


def test_an_unknown_section_is_a_usage_error(tmp_path):
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "speed", "--out", str(tmp_path / "b.md")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "--only speed: unknown section" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "b.md").exists()
