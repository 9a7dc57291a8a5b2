"""Data sharing: memory of K concurrent trials when the prepared arrays travel through Ray's object
store (``tune.with_parameters``, what every search does) vs when each trial loads its own copy.

Run:  .venv/bin/python -m benchmarks.sharing [--quick]

Three Ray Tune runs of K concurrent probe trials (K = CPUs), each trial holding the voice arrays of the
prepared default set (``speaker_classifier.voice_data``), reading every element, then waiting until all K
trials hold them before measuring:
  - reference: trials without data (what K idle trial workers and Ray itself cost);
  - baseline: each trial loads the arrays from the prepared folder into its own memory;
  - ours: the arrays arrive through ``tune.with_parameters`` (one object-store copy, mapped read-only
    into every worker).
Measured (Linux /proc, see benchmarks/memory.py) while all K trials hold their data: the resident
memory of the driver's process tree (driver, Ray's processes, the trial workers; PSS of anonymous and
shared memory, so the object store counts once however many workers map it, and page cache does
not count), and each trial's USS (memory only it holds). Data cost = tree memory - the reference
run's tree memory; ratio = baseline data cost / ours.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import memory
from benchmarks.datasets import prepared_dataset
from benchmarks.results import Row, Section, section_markdown

CPUS = 2


def _hold(config: dict, arrays: dict) -> None:
    """Read every array, wait for the other trials (a file barrier), then report this worker's memory.
    Every probe imports what ``own_copy`` needs, so that the three runs differ only in the data."""
    from ray import tune

    import v2f_bench.data.prepared  # noqa: F401
    import v2f_bench.trainables  # noqa: F401

    checksum = sum(int(a.reshape(-1).view(np.uint8).sum(dtype=np.uint64)) for a in arrays.values() if hasattr(a, "shape"))
    barrier = Path(config["barrier"])
    (barrier / str(os.getpid())).touch()
    deadline = time.time() + 60
    while len(list(barrier.iterdir())) < config["trials"] and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(config["hold_s"])
    zero_copy = all(not a.flags.writeable for a in arrays.values() if hasattr(a, "flags"))
    tree = memory.tree_resident(config["driver_pid"])
    time.sleep(config["hold_s"])
    tune.report({"uss": memory.uss(), "tree_memory": tree, "checksum": checksum, "zero_copy": zero_copy and bool(arrays)})


def no_data(config: dict) -> None:
    _hold(config, {})


def own_copy(config: dict) -> None:
    from v2f_bench.data.prepared import load_prepared
    from v2f_bench.voice_encoders.speaker_classifier import voice_data

    _hold(config, {k: np.array(v) for k, v in voice_data(load_prepared(config["prepared"])).items() if hasattr(v, "shape")})


def object_store(config: dict, data: dict) -> None:
    _hold(config, data)


def run_trials(trainable, trials: int, prepared: Path, storage: Path, name: str, hold_s: float) -> tuple[int, list[dict]]:
    """(tree PSS in bytes while all trials hold their data, each trial's reported row) of ``trials``
    concurrent probe trials. Each trial measures the driver's whole process tree after the barrier;
    the larger of their measurements counts."""
    from ray import tune

    with tempfile.TemporaryDirectory() as barrier:
        config = {"barrier": barrier, "trials": trials, "hold_s": hold_s, "prepared": str(prepared), "driver_pid": os.getpid(),
                  "i": tune.grid_search(list(range(trials)))}
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space=config,
            tune_config=tune.TuneConfig(max_concurrent_trials=trials, reuse_actors=False),
            run_config=tune.RunConfig(name=name, storage_path=str(storage), verbose=0),
        )
        results = tuner.fit()
    errors = [r.error for r in results if r.error is not None]
    if errors:
        raise RuntimeError(f"a probe trial failed: {errors[0]}")
    rows = [r.metrics for r in results]
    return max(r["tree_memory"] for r in rows), rows


def measure(quick: bool = False, work: Path | None = None) -> Section:
    import ray
    from ray import tune

    from v2f_bench.voice_encoders.speaker_classifier import voice_data

    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(work or tmp)
        prepared = prepared_dataset(work, small=quick)
        data = voice_data(prepared)
        size = sum(a.nbytes for a in data.values() if hasattr(a, "nbytes"))
        ray.init(address="local", num_cpus=CPUS, include_dashboard=False, logging_level=logging.ERROR)
        try:
            runs = {}  # the object-store copy is made only for its own run, after the others
            for label, make in (("reference", lambda: no_data), ("own", lambda: own_copy),
                                ("shared", lambda: tune.with_parameters(object_store, data=data))):
                runs[label] = run_trials(make(), CPUS, prepared.path, work / "sharing", label, hold_s=1.0)
        finally:
            ray.shutdown()
    reference = runs["reference"][0]
    cost = {label: peak - reference for label, (peak, _) in runs.items()}
    extra_uss = {label: sum(r["uss"] for r in rows) - sum(r["uss"] for r in runs["reference"][1]) for label, (_, rows) in runs.items()}
    ratio = cost["own"] / max(cost["shared"], 1)
    zero_copy = all(r["zero_copy"] for r in runs["shared"][1])
    mib = memory.mib
    return Section(
        title=f"Data sharing: memory of {CPUS} concurrent trials",
        method=(f"{CPUS} concurrent probe trials each holding the voice arrays of the {'small' if quick else 'default'} prepared set "
                f"({mib(size):.0f} MiB). Measured while all trials hold the data: resident memory of the whole process tree (driver, "
                "Ray, workers; anonymous + shared PSS, the object store counted once) minus that of a reference run whose trials hold no data. Ratio = baseline data cost / path data cost."),
        rows=[
            Row(f"each trial loads its own copy ({CPUS} copies)", mib(cost["own"]), "MiB", None),
            Row("object store via tune.with_parameters", mib(cost["shared"]), "MiB", ratio),
        ],
        goal=f"the prepared arrays exist once, not {CPUS} times",
        met=None if quick else cost["shared"] < 1.5 * size and zero_copy,
        notes=(["Quick run: the small set's arrays are far smaller than the run-to-run noise of a process tree's memory; not judged."]
               if quick else []) + [
            f"Data cost in units of the arrays' size: own copies {cost['own'] / size:.2f}x, object store {cost['shared'] / size:.2f}x "
            f"(1.0 = exactly one copy in the whole tree).",
            f"Memory held only by the trial workers (summed USS above the reference): own copies {mib(extra_uss['own']):.0f} MiB, "
            f"object store {mib(extra_uss['shared']):.0f} MiB: object-store arrays are mapped read-only, not copied "
            f"(read-only in every trial: {'yes' if zero_copy else 'no'}).",
            f"Reference run (trials without data): {mib(reference):.0f} MiB for the process tree.",
        ],
        seconds=time.perf_counter() - began,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small synthetic set")
    args = parser.parse_args()
    print(section_markdown(measure(args.quick)))


if __name__ == "__main__":
    main()
