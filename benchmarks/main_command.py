"""The main command: wall time and peak memory of ``v2f-bench paper`` (the default profile).

Run:  .venv/bin/python -m benchmarks.main_command [--quick]

Runs the README's main command, ``v2f-bench paper`` (``--quick``: ``--profile small``), as a child
process into a fresh run directory and report folder, and samples the resident memory of its whole
process tree (the command, Ray's processes and the trial workers; see benchmarks/memory.py) every
half second. The baseline measured in the same run is the training work itself: the summed
CPU-seconds of every search trial (Ray's ``time_total_s`` x the trial's CPUs, from the report's
trials.csv) divided by the machine's CPUs; ratio = that ideal search time / the measured time, i.e.
the share of the wall time the searches kept the CPUs training. Goal: the default profile finishes
in at most 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks import memory
from benchmarks.results import Row, Section, section_markdown
from v2f_bench.targets import role_of


def run_sampled(argv: list[str], interval_s: float = 0.5) -> tuple[int, float, int]:
    """Run ``argv`` (output passed through); (exit code, wall seconds, peak resident bytes of its tree)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, memory.tree_resident(process.pid))
            done.wait(interval_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    return code, wall, peak


GOAL_S = 15 * 60
"""The default profile's wall-time goal on 2 cores."""


def trial_times(report_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """(training seconds, CPUs) of each trial in the report's trials.csv, by target (voice, vae, ...)."""
    times: dict[str, list[tuple[float, float]]] = {}
    with (report_dir / "trials.csv").open() as table:
        for row in csv.DictReader(table):
            if row.get("time_s"):
                times.setdefault(row["target"], []).append((float(row["time_s"]), float(row.get("cpus") or 1.0)))
    return times


def measure(quick: bool = False, work: Path | None = None) -> tuple[Section, list[float]]:
    """The section, and the generator trials' training seconds (the search section's reference trial)."""
    import tempfile

    from v2f_bench.pipeline import PROFILES

    began = time.perf_counter()
    profile = "small" if quick else "default"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(work or tmp)
        report_dir = work / "paper-report"
        cli = str(Path(sys.executable).with_name("v2f-bench"))
        code, wall, peak = run_sampled([cli, "paper", "--profile", profile, "--out", str(work), "--report-dir", str(report_dir)])
        if code != 0:
            raise RuntimeError(f"`v2f-bench paper --profile {profile}` exited with {code}; see its output above")
        timings = json.loads((report_dir / "run.json").read_text())["timings_s"]
        times = trial_times(report_dir)
        prepared_bytes = sum(p.stat().st_size for p in (work / "prepared").glob("*.npy"))
    cpus = os.cpu_count() or 1
    settings = PROFILES[profile]
    searches_wall = timings["voice search"] + timings["compare"]
    ideal = sum(seconds * trial_cpus for values in times.values() for seconds, trial_cpus in values) / cpus
    generator_trials = [seconds for target, values in times.items() if role_of(target) == "generator" for seconds, _ in values]
    stages = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items() if name != "total")
    section = Section(
        title=f"Main command: `v2f-bench paper` ({profile} profile)",
        method=(f"The README's main command from an empty run directory on {cpus} CPUs: voice trials {settings.concurrency} at once with "
                f"{settings.cpus_per_trial:g} CPU each, generator trials {settings.generator_concurrency or settings.concurrency} at once with "
                f"{settings.generator_cpus_per_trial or settings.cpus_per_trial:g} CPUs each; "
                f"{sum(len(v) for v in times.values())} search trials ({', '.join(f'{len(v)} {k}' for k, v in times.items())}). "
                "Baseline: summed trial CPU-seconds / CPUs. Ratio = baseline / measured time."),
        rows=[
            Row("summed trial CPU-seconds / CPUs (baseline)", ideal, "s", None),
            Row("searches (voice search + compare), wall", searches_wall, "s", ideal / searches_wall),
            Row("whole command, wall", wall, "s", ideal / wall),
            Row("peak resident memory of the process tree", memory.mib(peak), "MiB", math.nan),
        ],
        notes=[
            f"Stages: {stages}.",
            f"Peak memory is {peak / prepared_bytes:.1f}x the prepared arrays on disk ({memory.mib(prepared_bytes):.0f} MiB); most of it is "
            "the Python processes themselves (driver, Ray's services, one worker per concurrent trial, each importing torch).",
            "A trial's training time (Ray's time_total_s) covers the whole trial function, evaluation and checkpoints "
            "included; the gap between the searches' wall time and the baseline is therefore Ray's own cost (starting "
            "workers, scheduling, fetching the shared data, persisting results) plus CPU slots left idle when fewer "
            "trials remain than slots or when trials of one search wait for the searcher.",
        ],
        seconds=time.perf_counter() - began,
        goal=f"{profile} profile in at most {GOAL_S // 60} min" if not quick else None,
        met=wall <= GOAL_S if not quick else None,
    )
    return section, generator_trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small profile")
    args = parser.parse_args()
    print(section_markdown(measure(args.quick)[0]))


if __name__ == "__main__":
    main()
