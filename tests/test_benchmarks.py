"""The benchmark suite (benchmarks/): its memory probes, its Markdown, the GPU section without CUDA and Ray, and a quick run writing the file."""

from __future__ import annotations

import json
import mmap
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import memory
from benchmarks.results import Row, Section, section_markdown, summary_table

ROOT = Path(__file__).resolve().parents[1]
linux_proc = pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="needs Linux /proc/PID/smaps_rollup")


@linux_proc
def test_uss_grows_by_what_this_process_allocates_and_touches():
    """64 MiB of fresh anonymous pages, each written once. (Through malloc the block could come from memory the process
    already held and had touched: that once measured 0 in the full suite.)"""
    size = 64 * 2**20
    before = memory.uss()
    block = mmap.mmap(-1, size)
    for offset in range(0, size, mmap.PAGESIZE):
        block[offset] = 1
    grown = memory.uss() - before
    assert 60 * 2**20 <= grown <= 80 * 2**20, grown
    block.close()


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
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "metrics,train", "--families", "vae", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    text = out.read_text()
    assert text.startswith("# v2f_bench benchmarks") and "Machine:" in text
    assert "## Metrics: batched Table II vs per-image scikit-image" in text and "## Training: steps/s" in text
    assert text.count("| baseline |") == 1 + 1 + 1 + 2 and "x baseline" in text  # metrics; train: the vae's loop, its fp32, the fp32 and bf16 matmul
    assert "| matmul 512x512, fp32: the peak |" in text and "| vae, bf16: model FLOP utilisation |" in text


def test_an_unknown_section_is_a_usage_error(tmp_path):
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "speed", "--out", str(tmp_path / "b.md")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "--only speed: unknown section" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "b.md").exists()


def test_an_unknown_family_is_a_usage_error(tmp_path):
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "train", "--families", "vae,gan9000", "--out", str(tmp_path / "b.md")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "--families vae,gan9000: choose from" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "b.md").exists()


def test_without_cuda_the_gpu_section_is_skipped_and_the_suite_exits_0(tmp_path, monkeypatch):
    from benchmarks import __main__ as suite
    from benchmarks import gpu

    monkeypatch.setattr(gpu.torch.cuda, "is_available", lambda: False)
    out = tmp_path / "gpu.md"
    assert suite.main(["--only", "gpu", "--out", str(out)]) == 0
    text = out.read_text()
    assert "(skipped)" in text and "no CUDA device: run `python -m benchmarks --only gpu`" in text and "DEVELOPERS.md" in text


def test_an_update_keeps_the_sections_it_does_not_measure_and_says_which_run_wrote_each(tmp_path, monkeypatch):
    from benchmarks import __main__ as suite
    from benchmarks import gpu

    monkeypatch.setattr(gpu.torch.cuda, "is_available", lambda: False)
    out = tmp_path / "b.md"
    assert suite.main(["--quick", "--only", "metrics", "--out", str(out)]) == 0
    first = json.loads(out.with_suffix(".json").read_text())["sections"]
    assert suite.main(["--only", "gpu", "--update", "--out", str(out)]) == 0
    sections = json.loads(out.with_suffix(".json").read_text())["sections"]
    assert [s["name"] for s in sections] == ["metrics", "gpu"] and sections[0]["rows"] == first[0]["rows"]
    assert sections[0]["written"] != sections[1]["written"] and "--only metrics" in sections[0]["written"]
    assert "Sections come from several runs: " in out.read_text() and "metrics on " in out.read_text()


def test_the_gpu_section_imports_without_ray_optuna_pandas_or_facenet():
    blocker = ("import sys, importlib.abc\n"
               "class Block(importlib.abc.MetaPathFinder):\n"
               "    def find_spec(self, name, path, target=None):\n"
               "        if name.split('.')[0] in {'ray', 'optuna', 'pandas', 'facenet_pytorch'}:\n"
               "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
               "sys.meta_path.insert(0, Block())\n"
               "import benchmarks.__main__, benchmarks.gpu\n"
               "assert 'ray' not in sys.modules and 'pandas' not in sys.modules\n")
    run = subprocess.run([sys.executable, "-c", blocker], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_recommendation_is_the_largest_count_still_growing_10_percent():
    from benchmarks.gpu import recommend, recommendation_line

    assert recommend({1: 100.0, 2: 180.0, 4: 250.0, 8: 260.0}) == 4
    assert recommend({1: 100.0, 2: 105.0, 4: 130.0, 8: 135.0}) == 4
    assert recommend({1: 100.0, 2: 109.0, 4: 110.0, 8: 100.0}) == 1
    assert recommend({1: 100.0, 2: 200.0, 4: 400.0, 8: 800.0}) == 8
    assert recommend({1: 100.0, 2: 150.0}) == 2
    line = recommendation_line({"vae": {1: 100.0, 2: 200.0, 4: 400.0}, "rcgan": {1: 100.0, 2: 150.0, 4: 155.0}})
    assert "2 concurrent training processes per GPU" in line and "`--gpus-per-trial 0.5`" in line and "vae 4, rcgan 2" in line


def test_a_gpu_worker_trains_each_family_on_cpu_and_reports_its_rows():
    import queue
    import threading

    from benchmarks.gpu import WorkerSpec, concurrency_rows, train_worker

    results = queue.Queue()
    spec = WorkerSpec(families=("vae", "cgan"), device="cpu", batch=4, warmup=1, seconds=None, steps=2, samples=16)
    train_worker(0, spec, threading.Barrier(1), results)
    got = [results.get(timeout=5) for _ in range(2)]
    assert [r.get("family") for r in got] == ["vae", "cgan"], got
    assert all(r["steps"] == 2 and r["images_per_s"] > 0 for r in got)
    rows, aggregate = concurrency_rows({1: got[:1], 2: [got[0], {**got[0], "rank": 1}]}, "vae")
    assert aggregate[2] == 2 * aggregate[1] and rows[0].ratio is None and rows[3].ratio == 2.0 and "2 processes" in rows[3].label


def test_a_failing_gpu_worker_reports_one_line_instead_of_hanging_the_others():
    import queue
    import threading

    from benchmarks.gpu import WorkerSpec, train_worker

    results = queue.Queue()
    train_worker(0, WorkerSpec(families=("nope",), device="cpu", steps=1, seconds=None), threading.Barrier(1), results)
    error = results.get(timeout=5)["error"]
    assert error.startswith("ValueError: unknown generator family 'nope'") and "\n" not in error


@pytest.mark.slow
def test_spawned_gpu_workers_run_on_cpu():
    from benchmarks.gpu import WorkerSpec, run_concurrent

    got = run_concurrent(2, WorkerSpec(families=("vae",), device="cpu", batch=4, warmup=1, seconds=None, steps=1, samples=16), timeout_s=120)
    assert sorted(r["rank"] for r in got) == [0, 1]


def test_precision_rows_compare_each_variant_with_fp32_of_the_same_family_and_width():
    from benchmarks.steps import Timing, variant_rows

    timings = [Timing("rcgan", 64, "fp32", 2.0, 4 * 10**11, 64), Timing("rcgan", 64, "bf16", 1.0, 4 * 10**11, 64),
               Timing("rcgan", 32, "fp32", 0.5, 10**11, 64), Timing("rcgan", 32, "channels_last", 0.25, 10**11, 64),
               Timing("vae", None, "fp32", 0.1, 2 * 10**9, 64)]
    rows = variant_rows(timings)
    assert [r.ratio for r in rows] == [None, 2.0, None, 2.0, None]
    assert rows[1].value == 64.0 and rows[1].label == "rcgan width 64, bf16: 400 GFLOP/step, 400 GFLOP/s"
    assert rows[4].label.startswith("vae, fp32: 2 GFLOP/step")
    with pytest.raises(ValueError, match="no fp32 timing"):
        variant_rows([Timing("cgan", 32, "bf16", 1.0, 1, 8)])


def test_a_report_records_its_command_without_the_paths_of_the_machine_that_ran_it():
    from benchmarks.results import shown_command

    argv = ["/tmp/run", "--work", "/tmp/bench/work", f"--out={ROOT / 'reports' / 'x.md'}", "--only", "scale"]
    assert shown_command("python -m benchmarks.convergence", argv, "RUN_DIR") == \
        "python -m benchmarks.convergence RUN_DIR --work WORK --out=reports/x.md --only scale"
    assert shown_command("python -m benchmarks", []) == "python -m benchmarks"
